// A product: its pictures, its variants with price and stock, a quantity, and the main
// button that puts them in the cart (the bot's cart: what is added here shows there).

import { thumbnail } from "../api.js";
import { h } from "../dom.js";
import { t } from "../texts.js";

export async function render(shop, [id], isCurrent) {
  const product = await shop.api.product(id);
  if (!isCurrent()) return;
  const variants = product.variants;
  let chosen = variants.find((v) => v.in_stock) || variants[0];
  let quantity = 1;

  const price = h("p", { class: "price", "aria-live": "polite" });
  const stock = h("p", { class: "hint" });
  const amount = h("input", {
    type: "number", id: "quantity", inputmode: "numeric", min: 1, max: 99, value: 1, required: true,
  });
  const minus = h("button", { type: "button", class: "icon-button", "aria-label": t("app.product.less") }, "−");
  const plus = h("button", { type: "button", class: "icon-button", "aria-label": t("app.product.more") }, "+");

  function limit() {
    return chosen && chosen.available !== null ? Math.max(0, Math.min(99, chosen.available)) : 99;
  }

  let adding = false;

  function update() {
    if (adding) return;  // the main button says "Adding…" until the cart answers
    quantity = Math.max(1, Math.min(limit() || 1, Number.parseInt(amount.value, 10) || 1));
    amount.value = String(quantity);
    amount.max = String(limit() || 1);
    price.textContent = chosen ? chosen.price.display : "";
    stock.textContent = !chosen || !chosen.in_stock ? t("app.product.sold_out")
      : chosen.available === null ? t("app.product.in_stock")
        : t("app.product.left", { count: chosen.available });
    minus.disabled = quantity <= 1;
    plus.disabled = quantity >= limit();
    const canBuy = Boolean(chosen && chosen.in_stock && shop.signedIn);
    shop.mainButton(canBuy ? {
      text: t("app.product.add", { count: quantity }),
      onClick: add,
    } : null);
  }

  async function add() {
    if (adding) return;
    adding = true;
    shop.mainButton({ text: t("app.product.adding"), progress: true, onClick: () => {} });
    try {
      const cart = await shop.api.cart();
      const line = cart.lines.find((l) => l.variant_id === chosen.id);
      const updated = await shop.api.setQuantity(chosen.id, (line ? line.quantity : 0) + quantity);
      shop.refreshCart(updated);
      shop.tg.haptic("success");
      shop.notify(t("app.product.added", { title: product.title }), "success");
      adding = false;
      if (!isCurrent()) return;
      shop.mainButton({ text: t("app.product.to_cart", { count: updated.item_count }), onClick: () => shop.go("/cart") });
    } catch (error) {
      adding = false;
      shop.notify(error, "error");
      if (isCurrent()) update();
    }
  }

  minus.addEventListener("click", () => { amount.value = String(quantity - 1); update(); shop.tg.haptic("select"); });
  plus.addEventListener("click", () => { amount.value = String(quantity + 1); update(); shop.tg.haptic("select"); });
  amount.addEventListener("change", update);

  const options = h("fieldset", { class: "variants" },
    h("legend", {}, t("app.product.variant")),
    variants.map((variant) => {
      const input = h("input", {
        type: "radio", name: "variant", value: variant.id, id: `variant-${variant.id}`,
        checked: variant === chosen, disabled: !variant.in_stock,
      });
      input.addEventListener("change", () => { chosen = variant; update(); shop.tg.haptic("select"); });
      return h("label", { class: "variant", for: `variant-${variant.id}` }, input,
        h("span", { class: "variant-title" }, variant.title),
        h("span", { class: "variant-price" }, variant.price.display),
        variant.in_stock ? null : h("span", { class: "badge muted" }, t("app.catalog.sold_out")));
    }));

  shop.main.replaceChildren(h("article", { class: "product" },
    gallery(product),
    h("h1", {}, product.title),
    price,
    product.description ? h("p", { class: "description" }, product.description) : null,
    variants.length > 1 ? options : null,
    h("div", { class: "quantity" },
      h("label", { for: "quantity" }, t("app.product.quantity")),
      h("div", { class: "stepper" }, minus, amount, plus)),
    stock,
    shop.signedIn ? null : h("p", { class: "hint" }, t("app.error.open_in_telegram"))));
  update();
}

function gallery(product) {
  const urls = product.image_urls;
  if (!urls.length) return h("div", { class: "no-image large", "aria-hidden": "true" }, "🛍");
  const big = h("img", {
    src: thumbnail(urls[0], 640), alt: product.title, width: 640, height: 640, class: "hero", decoding: "async",
  });
  if (urls.length === 1) return h("figure", { class: "gallery" }, big);
  const strip = h("div", { class: "thumbs", role: "group", "aria-label": t("app.product.pictures") },
    urls.map((url, index) => {
      const button = h("button", { type: "button", class: "thumb", "aria-pressed": String(index === 0),
        "aria-label": t("app.product.picture", { number: index + 1 }) },
      h("img", { src: thumbnail(url, 160), alt: "", width: 64, height: 64, loading: "lazy" }));
      button.addEventListener("click", () => {
        big.src = thumbnail(url, 640);
        for (const other of strip.children) other.setAttribute("aria-pressed", String(other === button));
      });
      return button;
    }));
  return h("figure", { class: "gallery" }, big, strip);
}
