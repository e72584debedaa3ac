// The catalog: category chips, a search box and a grid of products, a page at a time.
// The filters survive a visit to a product and back.

import { thumbnail } from "../api.js";
import { h } from "../dom.js";
import { t } from "../texts.js";

const PAGE = 20;
const state = { q: "", category: null, inStock: false };
let searchTimer = null;

export async function render(shop, _params, isCurrent) {
  const [tree, page] = await Promise.all([shop.api.categories(), products(shop)]);
  if (!isCurrent()) return;

  const grid = h("ul", { class: "grid", id: "products", "aria-label": t("app.catalog.products") });
  const more = h("button", { type: "button", class: "button secondary more" }, t("app.catalog.more"));
  const count = h("p", { class: "hint", role: "status" });
  let cursor = null;
  let latest = 0;  // only the answer to the newest request is shown

  function show(result, append) {
    if (!append) grid.replaceChildren();
    grid.append(...result.items.map(card));
    cursor = result.next_cursor;
    more.hidden = !cursor;
    count.textContent = result.total === 0 ? t("app.catalog.nothing") : t("app.catalog.count", { count: result.total });
  }

  async function reload() {
    const ticket = ++latest;
    try {
      const page = await products(shop);
      if (ticket === latest && isCurrent()) show(page, false);
    } catch (error) {
      if (ticket === latest) shop.notify(error, "error");
    }
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    const ticket = latest;
    try {
      const page = await products(shop, cursor);
      if (ticket === latest && isCurrent()) show(page, true);
    } catch (error) {
      shop.notify(error, "error");
    } finally {
      more.disabled = false;
    }
  });

  const search = h("input", {
    type: "search", id: "search", name: "q", value: state.q, autocomplete: "off",
    enterkeyhint: "search", placeholder: t("app.catalog.search_placeholder"), maxlength: 200,
  });
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = search.value.trim(); reload(); }, 250);
  });
  const inStock = h("input", { type: "checkbox", id: "in-stock", checked: state.inStock });
  inStock.addEventListener("change", () => { state.inStock = inStock.checked; reload(); });

  const chips = h("div", { class: "chips", role: "group", "aria-label": t("app.catalog.categories") });
  const chip = (id, title) => {
    const button = h("button", { type: "button", class: "chip", "aria-pressed": String(state.category === id) }, title);
    button.addEventListener("click", () => {
      state.category = id;
      for (const other of chips.children) other.setAttribute("aria-pressed", String(other === button));
      shop.tg.haptic("select");
      reload();
    });
    return button;
  };
  chips.append(chip(null, t("app.catalog.all")));
  for (const category of flatten(tree.items)) chips.append(chip(category.id, category.title));

  shop.main.replaceChildren(h("section", { class: "catalog" },
    h("h1", { class: "visually-hidden" }, t("app.catalog.title")),
    h("div", { class: "search" },
      h("label", { for: "search", class: "visually-hidden" }, t("app.catalog.search")),
      search),
    chips,
    h("label", { class: "check" }, inStock, " ", t("app.catalog.in_stock_only")),
    count, grid, more));
  show(page, false);
}

function products(shop, cursor = null) {
  return shop.api.products({
    q: state.q, category_id: state.category, in_stock: state.inStock || null, limit: PAGE, cursor,
  });
}

function flatten(categories, depth = 0) {
  return categories.flatMap((c) => [
    { id: c.id, title: depth ? `${"· ".repeat(depth)}${c.title}` : c.title },
    ...flatten(c.children || [], depth + 1),
  ]);
}

function card(product) {
  const image = product.image_url
    ? h("img", { src: thumbnail(product.image_url, 320), alt: "", width: 320, height: 320, loading: "lazy", decoding: "async" })
    : h("div", { class: "no-image", "aria-hidden": "true" }, "🛍");
  return h("li", { class: "card" },
    h("a", { href: `#/p/${product.id}`, class: "card-link" },
      image,
      h("span", { class: "card-title" }, product.title),
      h("span", { class: "card-price" }, t("app.catalog.price_from", { price: product.price_from.display })),
      product.in_stock ? null : h("span", { class: "badge muted" }, t("app.catalog.sold_out"))));
}
