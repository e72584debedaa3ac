// Paying an order: choose how (the ways this shop takes money), optionally let the balance
// pay part, then Telegram's own invoice (Stars, cards), the provider's page (YooKassa,
// CryptoBot) or the balance at once. The amount always comes from the shop, never from here.
// Telegram tells the shop about the money; the page then waits for the order to say "paid".

import { h } from "../dom.js";
import { t } from "../texts.js";

const WAIT_FOR_CONFIRMATION_MS = 20000;

export async function render(shop, [orderId], isCurrent) {
  if (!shop.requireSignIn()) return;
  const [order, me, info] = await Promise.all([shop.api.order(orderId), shop.api.me(), shop.api.shop()]);
  if (!isCurrent()) return;
  if (order.payment_status !== "unpaid" || order.status !== "awaiting_payment") {
    shop.go(`/orders/${order.id}`, { replace: true });
    return;
  }
  const balance = me.balance;
  const sameCurrency = balance.currency === order.total.currency;
  const methods = info.payment_methods.filter((m) => m !== "wallet" || (sameCurrency && balance.amount >= order.total.amount));
  let method = methods[0];

  const useBalance = h("input", { type: "checkbox", id: "use-balance" });
  const mixed = sameCurrency && balance.amount > 0 && balance.amount < order.total.amount;
  const choices = h("fieldset", { class: "methods" },
    h("legend", {}, t("app.pay.how")),
    methods.map((name) => {
      const input = h("input", { type: "radio", name: "method", value: name, id: `method-${name}`, checked: name === method });
      input.addEventListener("change", () => { method = name; shop.tg.haptic("select"); update(); });
      return h("label", { class: "method", for: `method-${name}` }, input,
        h("span", {}, t(`app.pay.method.${name}`, { balance: balance.display })));
    }));
  const balanceOption = mixed ? h("label", { class: "check", id: "use-balance-row" }, useBalance, " ",
    t("app.pay.use_balance", { balance: balance.display })) : null;
  useBalance.addEventListener("change", update);

  function update() {
    if (balanceOption) balanceOption.hidden = method === "wallet";
    shop.mainButton(method ? { text: t("app.pay.button", { total: order.total.display }), onClick: pay } : null);
  }

  let paying = false;

  async function pay() {
    if (paying) return;
    paying = true;
    shop.mainButton({ text: t("app.pay.opening"), progress: true, onClick: () => {} });
    try {
      const result = await shop.api.pay(order.id, method, Boolean(mixed && useBalance.checked && method !== "wallet"));
      if (result.status === "paid") return finished(true);
      if (result.status === "redirect") {
        shop.tg.openLink(result.url);
        return shop.go(`/orders/${order.id}`);
      }
      const status = await shop.tg.openInvoice(result.url);
      if (status === "paid") return finished(false);
      if (status === "pending") return shop.go(`/orders/${order.id}`);
      shop.notify(t(status === "cancelled" ? "app.pay.cancelled" : "app.pay.failed"), status === "cancelled" ? "info" : "error");
    } catch (error) {
      shop.notify(error, "error");
    }
    paying = false;
    if (isCurrent()) update();
  }

  /** Money is on its way: Telegram confirms it to the shop, then the order says so. */
  async function finished(confirmed) {
    shop.tg.haptic("success");
    if (!isCurrent()) return;
    shop.mainButton(null);
    shop.main.replaceChildren(h("section", { class: "empty" },
      h("p", { role: "status", id: "pay-status" }, t("app.pay.confirming"))));
    const until = Date.now() + WAIT_FOR_CONFIRMATION_MS;
    while (!confirmed && Date.now() < until && isCurrent()) {
      const fresh = await shop.api.order(order.id).catch(() => null);
      if (fresh && fresh.payment_status === "paid") confirmed = true;
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (!isCurrent()) return;
    shop.notify(t(confirmed ? "app.pay.paid" : "app.pay.still_confirming"), confirmed ? "success" : "info");
    shop.go(`/orders/${order.id}`, { replace: true });
  }

  shop.main.replaceChildren(h("section", { class: "payment" },
    h("h1", {}, t("app.pay.title", { number: order.number })),
    h("p", { class: "total" }, h("span", {}, t("app.cart.total")), h("strong", {}, order.total.display)),
    order.expires_at ? h("p", { class: "hint" }, t("app.pay.held")) : null,
    methods.length ? choices : h("p", { class: "problem" }, t("app.pay.no_methods")),
    balanceOption));
  update();
}
