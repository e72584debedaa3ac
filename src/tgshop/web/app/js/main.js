// The Mini App: boot, the screen router (#/ routes) and what every screen shares.
//
// Routes: #/ catalog, #/p/<id> product, #/cart, #/checkout, #/pay/<order id>, #/orders,
// #/orders/<id>, #/profile. Screens are modules with render(shop, params, main); the catalog
// comes with the page, the others load when first opened.

import { Api } from "./api.js";
import { h, toast } from "./dom.js";
import { connect } from "./telegram.js";
import { has, loadTexts, t, translateShell } from "./texts.js";
import * as catalog from "./screens/catalog.js";

const ROUTES = [
  [/^\/$/, () => catalog],
  [/^\/p\/(\d+)$/, () => import("./screens/product.js")],
  [/^\/cart$/, () => import("./screens/cart.js")],
  [/^\/checkout$/, () => import("./screens/checkout.js")],
  [/^\/pay\/(\d+)$/, () => import("./screens/payment.js")],
  [/^\/orders$/, () => import("./screens/orders.js")],
  [/^\/orders\/(\d+)$/, () => import("./screens/order.js")],
  [/^\/profile$/, () => import("./screens/profile.js")],
];

class Shop {
  constructor() {
    this.tg = connect();
    this.api = new Api(this.tg.initData);
    this.lang = (this.tg.user && this.tg.user.language_code) || navigator.language || "en";
    this.main = document.getElementById("main");
    this.me = null;
    this.rendering = 0;
    this.navigated = false;
  }

  get signedIn() {
    return Boolean(this.tg.initData);
  }

  async start() {
    const texts = loadTexts(this.lang);
    // The person, in parallel with the words: their language in the shop may differ from
    // their Telegram language (they chose it in the bot).
    const me = this.signedIn ? this.api.me().catch(() => null) : Promise.resolve(null);
    await texts;
    document.documentElement.lang = this.lang.slice(0, 2);
    translateShell();
    document.querySelector(".skip-link").addEventListener("click", (event) => {
      event.preventDefault();  // "#main" is not a route
      this.main.focus();
    });
    this.tg.ready();
    if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/");
    window.addEventListener("hashchange", () => this.route());
    const route = this.route();
    this.me = await me;
    if (this.me && this.me.language !== this.lang.slice(0, 2)) {
      this.lang = this.me.language;
      document.documentElement.lang = this.lang;
      await loadTexts(this.lang);
      translateShell();
      await route;
      this.route();
    }
    if (this.signedIn) this.refreshCart();
  }

  /** Show `path`; `replace` when the current screen only forwards (so Back skips it). */
  go(path, { replace = false } = {}) {
    if (location.hash === `#${path}`) this.route();
    else if (replace) location.replace(`#${path}`);
    else location.hash = `#${path}`;
  }

  /** Words for a refused request, in the customer's language. */
  explain(error) {
    if (!error || error.code === "offline") return t("app.error.offline");
    if (error.status === 401) return t("app.error.signed_out");
    const specific = `app.error.code.${error.code || error.status}`;
    if (has(specific)) return t(specific);
    return this.lang.startsWith("en") && error.message ? error.message : t("app.error.generic");
  }

  back() {
    if (history.length > 1) history.back();
    else this.go("/");
  }

  /** Set (or, with null, hide) the main button for the current screen. */
  mainButton(options) {
    this.tg.setMainButton(options);
  }

  async refreshCart(cart) {
    const badge = document.getElementById("cart-count");
    try {
      const current = cart || await this.api.cart();
      badge.textContent = String(current.item_count);
      badge.hidden = current.item_count === 0;
      document.getElementById("nav-cart").setAttribute(
        "aria-label", t("app.nav.cart_count", { count: current.item_count }),
      );
    } catch {
      badge.hidden = true;
    }
  }

  /** The screen for an API refusal nobody planned for: say it, offer the way home. */
  failed(error) {
    const text = this.explain(error);
    this.main.replaceChildren(h("section", { class: "empty" },
      h("p", { role: "alert" }, text),
      h("a", { class: "button", href: "#/" }, t("app.nav.catalog"))));
  }

  requireSignIn() {
    if (this.signedIn) return true;
    this.main.replaceChildren(h("section", { class: "empty" },
      h("p", { role: "alert" }, t("app.error.open_in_telegram"))));
    return false;
  }

  notify(text, kind) {
    if (text instanceof Error) text = this.explain(text);
    toast(text, kind);
    if (kind === "error") this.tg.haptic("error");
  }

  async route() {
    const path = location.hash.slice(1) || "/";
    const found = ROUTES.find(([pattern]) => pattern.test(path));
    const ticket = ++this.rendering;
    this.mainButton(null);
    this.tg.setBackButton(path === "/" ? null : () => this.back());
    for (const link of document.querySelectorAll(".nav a")) {
      const current = path === link.getAttribute("href").slice(1)
        || (path.startsWith("/orders") && link.id === "nav-orders");
      if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    this.main.setAttribute("aria-busy", "true");
    try {
      if (!found) {
        this.go("/", { replace: true });
        return;
      }
      const screen = await found[1]();
      if (ticket !== this.rendering) return;
      const params = path.match(found[0]).slice(1);
      await screen.render(this, params, () => ticket === this.rendering);
      if (ticket === this.rendering && this.navigated) {
        // After a move between screens, start reading at the new screen's heading.
        const heading = this.main.querySelector("h1");
        if (heading) {
          heading.tabIndex = -1;
          heading.focus({ preventScroll: true });
        }
      }
      this.navigated = true;
    } catch (error) {
      if (ticket === this.rendering) this.failed(error);
    } finally {
      if (ticket === this.rendering) {
        this.main.setAttribute("aria-busy", "false");
        document.title = `${document.getElementById("shop-name").textContent}`;
      }
    }
  }
}

new Shop().start();
