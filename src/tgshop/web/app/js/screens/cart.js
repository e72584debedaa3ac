// The cart (the bot's cart): change a quantity, take a line out, go to checkout. A line the
// shop can no longer sell as it stands says why, and checkout waits until it is fixed.

import { h } from "../dom.js";
import { t } from "../texts.js";

export async function render(shop, _params, isCurrent) {
  if (!shop.requireSignIn()) return;
  const cart = await shop.api.cart();
  if (!isCurrent()) return;
  draw(shop, cart, isCurrent);
}

function draw(shop, cart, isCurrent) {
  shop.refreshCart(cart);
  if (!cart.lines.length) {
    shop.mainButton(null);
    shop.main.replaceChildren(h("section", { class: "empty" },
      h("h1", {}, t("app.cart.title")),
      h("p", {}, t("app.cart.empty")),
      h("a", { class: "button", href: "#/" }, t("app.nav.catalog"))));
    return;
  }

  let busy = false;

  /** One change at a time: each sends a quantity computed from what is on screen. */
  async function change(action, event) {
    if (busy) return;
    busy = true;
    const focused = event && event.currentTarget && event.currentTarget.dataset.focus;
    for (const control of shop.main.querySelectorAll(".lines button")) control.disabled = true;
    try {
      const updated = await action();
      shop.tg.haptic("select");
      if (!isCurrent()) return;
      draw(shop, updated, isCurrent);
      // Keep the keyboard where it was: the same control of the same line, if still there.
      const again = focused && shop.main.querySelector(`[data-focus="${focused}"]`);
      if (again && !again.disabled) again.focus();
      else if (focused) shop.main.querySelector("h1")?.focus();
    } catch (error) {
      shop.notify(error, "error");
      if (isCurrent()) draw(shop, cart, isCurrent);
    } finally {
      busy = false;
    }
  }

  const blocked = cart.lines.some((line) => line.problem);
  const lines = cart.lines.map((line) => {
    const label = `${line.product_title}, ${line.variant_title}`;
    const max = line.available === null ? 99 : Math.max(line.quantity, line.available);
    return h("li", { class: "line" },
      h("div", { class: "line-text" },
        h("a", { href: `#/p/${line.product_id}`, class: "line-title" }, line.product_title),
        h("span", { class: "hint" }, line.variant_title, " · ", line.unit_price.display),
        line.problem ? h("span", { class: "problem", role: "alert" }, t(`app.cart.problem.${line.problem}`)) : null),
      h("div", { class: "line-controls" },
        h("div", { class: "stepper" },
          h("button", { type: "button", class: "icon-button", "aria-label": t("app.cart.less", { item: label }),
            "data-focus": `less-${line.variant_id}`,
            onclick: (event) => change(() => shop.api.setQuantity(line.variant_id, line.quantity - 1), event) }, "−"),
          h("output", { "aria-label": t("app.cart.quantity", { item: label }) }, String(line.quantity)),
          h("button", { type: "button", class: "icon-button", "aria-label": t("app.cart.more", { item: label }),
            disabled: line.quantity >= max, "data-focus": `more-${line.variant_id}`,
            onclick: (event) => change(() => shop.api.setQuantity(line.variant_id, line.quantity + 1), event) }, "+")),
        h("span", { class: "line-total" }, line.line_total.display),
        h("button", { type: "button", class: "link danger", "aria-label": t("app.cart.remove_item", { item: label }),
          "data-focus": `remove-${line.variant_id}`,
          onclick: (event) => change(() => shop.api.removeLine(line.variant_id), event) }, t("app.cart.remove"))));
  });

  shop.main.replaceChildren(h("section", { class: "cart" },
    h("h1", { tabindex: "-1" }, t("app.cart.title")),
    h("ul", { class: "lines" }, lines),
    h("p", { class: "total" }, h("span", {}, t("app.cart.total")), h("strong", {}, cart.total.display)),
    blocked ? h("p", { class: "problem" }, t("app.cart.fix_first")) : null));
  shop.mainButton({
    text: t("app.cart.checkout", { total: cart.total.display }),
    enabled: !blocked,
    onClick: () => { if (!blocked) shop.go("/checkout"); },
  });
}
