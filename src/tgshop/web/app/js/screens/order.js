// One of my orders: what is in it, where it goes, what happened to it and when; pay it while
// it waits for money; ask for a refund once it is paid (staff decide, as in the bot).

import { dateTime, h } from "../dom.js";
import { t } from "../texts.js";

const DELIVERY_FIELDS = ["name", "phone", "address", "location", "comment"];

export async function render(shop, [orderId], isCurrent) {
  if (!shop.requireSignIn()) return;
  const order = await shop.api.order(orderId);
  if (!isCurrent()) return;
  const payable = order.status === "awaiting_payment" && order.payment_status === "unpaid";
  const refundable = order.payment_status === "paid" || order.payment_status === "partially_refunded";

  const delivery = DELIVERY_FIELDS.filter((key) => order.delivery[key]).map((key) =>
    [h("dt", {}, t(`app.checkout.${key}`)), h("dd", {}, String(order.delivery[key]))]);

  shop.main.replaceChildren(h("article", { class: "order" },
    h("h1", {}, t("app.order.title", { number: order.number })),
    h("p", {},
      h("span", { class: `status status-${order.status}`, id: "order-status" }, t(`order.status.${order.status}`)),
      " ",
      h("span", { class: "badge muted", id: "payment-status" }, t(`app.payment_status.${order.payment_status}`))),
    h("ul", { class: "summary" }, order.items.map((item) => h("li", {},
      h("span", {}, `${item.title}, ${item.variant_title} × ${item.quantity}`),
      h("span", {}, item.total.display)))),
    h("p", { class: "total" }, h("span", {}, t("app.cart.total")), h("strong", {}, order.total.display)),
    order.tracking_number ? h("p", {}, t("app.order.tracking", { tracking: order.tracking_number })) : null,
    delivery.length ? h("section", {}, h("h2", {}, t("app.checkout.delivery")), h("dl", { class: "details" }, delivery)) : null,
    h("section", {}, h("h2", {}, t("app.order.history")),
      h("ol", { class: "history" }, order.history.map((event) => h("li", {},
        h("span", {}, t(`order.status.${event.to_status}`)),
        h("span", { class: "hint" }, ` · ${dateTime(event.at, shop.lang)}`),
        event.note ? h("span", { class: "hint" }, ` · ${event.note}`) : null)))),
    refundable ? refundForm(shop, order, isCurrent) : null));
  if (payable) shop.mainButton({ text: t("app.pay.button", { total: order.total.display }), onClick: () => shop.go(`/pay/${order.id}`) });
}

function refundForm(shop, order, isCurrent) {
  const reason = h("textarea", { id: "refund-reason", name: "reason", minlength: 3, maxlength: 500, rows: 3, required: true, "aria-describedby": "refund-error" });
  const error = h("p", { class: "field-error", id: "refund-error", "aria-live": "polite" });
  const send = h("button", { type: "submit", class: "button secondary" }, t("app.refund.send"));
  const form = h("form", { class: "form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "refund-reason" }, t("app.refund.reason")), reason, error), send);
  const box = h("details", { class: "refund" }, h("summary", {}, t("app.refund.ask")), form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (text.length < 3) {
      error.textContent = t("app.refund.too_short");
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    reason.removeAttribute("aria-invalid");
    error.textContent = "";
    send.disabled = true;
    try {
      const asked = await shop.api.askRefund([order.number], text);
      shop.tg.haptic("success");
      if (!isCurrent()) return;
      box.replaceChildren(h("p", { role: "status" }, t("app.refund.sent", { amount: asked[0].amount.display })));
    } catch (failure) {
      const refused = (failure.problem && failure.problem.refused) || [];
      error.textContent = refused.length ? t(`app.refund.refused.${refused[0].reason}`) : shop.explain(failure);
      shop.tg.haptic("error");
      send.disabled = false;
    }
  });
  return box;
}
