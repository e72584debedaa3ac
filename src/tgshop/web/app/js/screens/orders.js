// My orders, newest first, a page at a time (the same list as the bot's "My orders").

import { dateTime, h } from "../dom.js";
import { t } from "../texts.js";

export async function render(shop, _params, isCurrent) {
  if (!shop.requireSignIn()) return;
  const first = await shop.api.orders(0);
  if (!isCurrent()) return;
  if (!first.items.length) {
    shop.main.replaceChildren(h("section", { class: "empty" },
      h("h1", {}, t("app.orders.title")),
      h("p", {}, t("app.orders.empty")),
      h("a", { class: "button", href: "#/" }, t("app.nav.catalog"))));
    return;
  }
  const list = h("ul", { class: "orders" });
  const more = h("button", { type: "button", class: "button secondary more" }, t("app.catalog.more"));
  let next = null;

  function show(page) {
    list.append(...page.items.map((order) => h("li", {},
      h("a", { href: `#/orders/${order.id}`, class: "order-row" },
        h("span", { class: "order-number" }, order.number),
        h("span", { class: `status status-${order.status}` }, t(`order.status.${order.status}`)),
        h("span", { class: "hint" }, dateTime(order.created_at, shop.lang)),
        h("strong", {}, order.total.display)))));
    next = page.next_offset;
    more.hidden = next === null;
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try { show(await shop.api.orders(next)); } catch (error) { shop.notify(error, "error"); }
    more.disabled = false;
  });
  shop.main.replaceChildren(h("section", {}, h("h1", {}, t("app.orders.title")), list, more));
  show(first);
}
