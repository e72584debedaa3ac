// Checkout: what is being bought, and the delivery details when something physical is in
// the cart. Each answer is checked as the person leaves the field (the browser's own rules:
// required, length) and, on placing, by the shop's rules, the bot's; a refused answer is
// shown under its field, which gets the focus. The order is placed only for the total shown.

import { h } from "../dom.js";
import { t } from "../texts.js";

const FIELDS = {
  name: { type: "text", autocomplete: "name", minlength: 2, maxlength: 64 },
  phone: { type: "tel", autocomplete: "tel", inputmode: "tel", maxlength: 32 },
  address: { type: "textarea", autocomplete: "street-address", minlength: 5, maxlength: 500, rows: 3 },
  comment: { type: "textarea", maxlength: 500, rows: 2 },
};

export async function render(shop, _params, isCurrent) {
  if (!shop.requireSignIn()) return;
  let review;
  try {
    review = await shop.api.checkout();
  } catch (error) {
    if (error.code === "empty_cart") return shop.go("/cart", { replace: true });
    throw error;
  }
  if (!isCurrent()) return;
  draw(shop, review, isCurrent);
}

function draw(shop, review, isCurrent) {
  const cart = review.cart;
  const wanted = review.needs_delivery ? ["name", "phone", "address", "comment"] : ["comment"];
  const inputs = {};
  const errors = {};

  const form = h("form", { class: "form", novalidate: true, id: "checkout-form" });
  for (const name of wanted) {
    const spec = FIELDS[name];
    const required = name !== "comment";
    const errorId = `${name}-error`;
    const attrs = {
      id: `field-${name}`, name, required, autocomplete: spec.autocomplete, inputmode: spec.inputmode,
      minlength: spec.minlength, maxlength: spec.maxlength, "aria-describedby": errorId,
    };
    const input = spec.type === "textarea" ? h("textarea", { ...attrs, rows: spec.rows })
      : h("input", { ...attrs, type: spec.type });
    if (name === "phone" && review.saved_phone) input.value = review.saved_phone;
    if (name === "name" && shop.me) input.value = [shop.me.first_name, shop.me.last_name].filter(Boolean).join(" ");
    input.addEventListener("blur", () => check(name));
    input.addEventListener("input", () => { if (input.getAttribute("aria-invalid")) check(name); });
    inputs[name] = input;
    errors[name] = h("p", { class: "field-error", id: errorId, "aria-live": "polite" });
    form.append(h("div", { class: "field" },
      h("label", { for: `field-${name}` }, t(`app.checkout.${name}`), required ? null : h("span", { class: "hint" }, ` ${t("app.checkout.optional")}`)),
      input, errors[name]));
  }

  function mark(name, message) {
    errors[name].textContent = message || "";
    if (message) inputs[name].setAttribute("aria-invalid", "true");
    else inputs[name].removeAttribute("aria-invalid");
  }

  /** The browser's checks, in the shop's words. */
  function check(name) {
    const input = inputs[name];
    const value = input.value.trim();
    const spec = FIELDS[name];
    if (!value && input.required) return mark(name, t("app.problem.missing")), false;
    const tooShort = Boolean(value && spec.minlength && value.length < spec.minlength);
    if (tooShort || value.length > spec.maxlength) {
      return mark(name, t(`app.problem.${name}.length`, { min: spec.minlength || 0, max: spec.maxlength })), false;
    }
    if (name === "phone" && value && !/^\+?[\d\s().-]{5,}$/.test(value)) {
      return mark(name, t("app.problem.phone.invalid")), false;
    }
    mark(name, "");
    return true;
  }

  let placing = false;

  async function place() {
    if (placing) return;  // Enter in a field while the main button already placed it
    const bad = wanted.filter((name) => !check(name));
    if (bad.length) {
      inputs[bad[0]].focus();
      shop.tg.haptic("error");
      return;
    }
    const details = { expected_total: cart.total.amount };
    for (const name of wanted) if (inputs[name].value.trim()) details[name] = inputs[name].value.trim();
    placing = true;
    shop.mainButton({ text: t("app.checkout.placing"), progress: true, onClick: () => {} });
    try {
      const placed = await shop.api.place(details);
      shop.tg.haptic("success");
      shop.refreshCart();
      shop.go(`/pay/${placed.order.id}`, { replace: true });
    } catch (error) {
      placing = false;
      if (!isCurrent()) return;
      refused(error);
    }
  }

  function refused(error) {
    const problem = error.problem || {};
    if (error.code === "delivery_problem" && inputs[problem.field]) {
      const limits = problem.limits || {};
      mark(problem.field, t(`app.problem.${problem.reason === "missing" ? "missing" : `${problem.field}.${problem.reason}`}`, limits));
      inputs[problem.field].focus();
      shop.tg.haptic("error");
    } else if (error.code === "price_changed" || error.code === "out_of_stock") {
      shop.notify(t(`app.checkout.${error.code}`), "error");
      shop.api.checkout().then(
        (fresh) => { if (isCurrent()) draw(shop, fresh, isCurrent); },
        () => shop.go("/cart", { replace: true }),
      );
      return;
    } else {
      shop.notify(error, "error");
    }
    button();
  }

  function button() {
    shop.mainButton({ text: t("app.checkout.place", { total: cart.total.display }), onClick: place });
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); place(); });
  form.append(h("button", { type: "submit", class: "visually-hidden", tabindex: "-1" }, t("app.checkout.place", { total: cart.total.display })));

  shop.main.replaceChildren(h("section", { class: "checkout" },
    h("h1", {}, t("app.checkout.title")),
    h("ul", { class: "summary" }, cart.lines.map((line) => h("li", {},
      h("span", {}, `${line.product_title}, ${line.variant_title} × ${line.quantity}`),
      h("span", {}, line.line_total.display)))),
    h("p", { class: "total" }, h("span", {}, t("app.cart.total")), h("strong", { id: "checkout-total" }, cart.total.display)),
    review.needs_delivery ? h("h2", {}, t("app.checkout.delivery")) : null,
    form));
  button();
}
