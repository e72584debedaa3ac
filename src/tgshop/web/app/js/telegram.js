// The Mini App's one door to Telegram: the launch data, the theme, MainButton, BackButton,
// HapticFeedback and openInvoice.
//
// Three ways to run, one interface:
// - inside Telegram, telegram-web-app.js is on the page (window.Telegram.WebApp): use it;
// - inside a frame without it (the sandbox standing in for Telegram Web): speak the same
//   postMessage protocol Telegram Web speaks to its frames ({eventType, eventData} as JSON);
// - in a plain browser (development, with the sandbox's signed launch link): the page draws
//   its own main and back buttons, and an invoice opens in a new tab.

const LAUNCH_KEY = "tgshop.launch";

function launchParams() {
  // Telegram puts the launch parameters in the fragment; keep them, as routes use it next.
  const fromHash = new URLSearchParams(location.hash.slice(1));
  if (fromHash.get("tgWebAppData")) {
    const saved = {
      initData: fromHash.get("tgWebAppData"),
      theme: fromHash.get("tgWebAppThemeParams"),
      platform: fromHash.get("tgWebAppPlatform") || "unknown",
    };
    try { sessionStorage.setItem(LAUNCH_KEY, JSON.stringify(saved)); } catch { /* private mode */ }
    return saved;
  }
  try {
    return JSON.parse(sessionStorage.getItem(LAUNCH_KEY) || "null") || {};
  } catch {
    return {};
  }
}

function userOf(initData) {
  try {
    return JSON.parse(new URLSearchParams(initData).get("user") || "null");
  } catch {
    return null;
  }
}

const THEME_VARS = {
  bg_color: "--tg-theme-bg-color",
  text_color: "--tg-theme-text-color",
  hint_color: "--tg-theme-hint-color",
  link_color: "--tg-theme-link-color",
  button_color: "--tg-theme-button-color",
  button_text_color: "--tg-theme-button-text-color",
  secondary_bg_color: "--tg-theme-secondary-bg-color",
  section_bg_color: "--tg-theme-section-bg-color",
  destructive_text_color: "--tg-theme-destructive-text-color",
};

function applyTheme(params) {
  if (!params || typeof params !== "object") return;
  const root = document.documentElement.style;
  for (const [key, cssVar] of Object.entries(THEME_VARS)) {
    if (typeof params[key] === "string" && /^#[0-9a-f]{3,8}$/i.test(params[key])) {
      root.setProperty(cssVar, params[key]);
    }
  }
  if (typeof params.bg_color === "string") {
    document.documentElement.dataset.scheme = isDark(params.bg_color) ? "dark" : "light";
  }
}

function isDark(hex) {
  const value = hex.replace("#", "");
  const full = value.length === 3 ? value.split("").map((c) => c + c).join("") : value.slice(0, 6);
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}

/** Telegram's own script is on the page and launched us. */
class NativeBridge {
  constructor(webApp) {
    this.app = webApp;
    this.kind = "telegram";
    this.initData = webApp.initData;
    this.user = webApp.initDataUnsafe?.user || userOf(webApp.initData);
    this.mainHandler = null;
    this.backHandler = null;
    webApp.onEvent("mainButtonClicked", () => this.mainHandler && this.mainHandler());
    const scheme = () => { document.documentElement.dataset.scheme = webApp.colorScheme || "light"; };
    scheme();
    webApp.onEvent("themeChanged", scheme);
    webApp.onEvent("backButtonClicked", () => this.backHandler && this.backHandler());
  }

  ready() {
    this.app.ready();
    this.app.expand();
  }

  setMainButton(options) {
    const button = this.app.MainButton;
    if (!options) {
      button.hide();
      this.mainHandler = null;
      return;
    }
    this.mainHandler = options.onClick;
    // hideProgress() makes the button active again: set the state after it.
    if (options.progress) button.showProgress(false); else button.hideProgress();
    button.setParams({ text: options.text, is_active: options.enabled !== false, is_visible: true });
  }

  setBackButton(onClick) {
    this.backHandler = onClick;
    if (onClick) this.app.BackButton.show(); else this.app.BackButton.hide();
  }

  haptic(kind) {
    const feedback = this.app.HapticFeedback;
    if (!feedback) return;
    if (kind === "success" || kind === "error" || kind === "warning") feedback.notificationOccurred(kind);
    else if (kind === "select") feedback.selectionChanged();
    else feedback.impactOccurred("light");
  }

  openInvoice(url) {
    return new Promise((resolve) => this.app.openInvoice(url, (status) => resolve(status)));
  }

  openLink(url) {
    this.app.openLink(url);
  }
}

/** A frame inside the sandbox (or Telegram Web without the script): postMessage. */
class FrameBridge {
  constructor(launch) {
    this.kind = "frame";
    this.initData = launch.initData || "";
    this.user = userOf(this.initData);
    this.mainHandler = null;
    this.backHandler = null;
    this.invoices = new Map();
    window.addEventListener("message", (event) => this.receive(event));
    if (launch.theme) {
      try { applyTheme(JSON.parse(launch.theme)); } catch { /* not JSON: keep the defaults */ }
    }
  }

  post(eventType, eventData = {}) {
    window.parent.postMessage(JSON.stringify({ eventType, eventData }), "*");
  }

  receive(event) {
    if (event.source !== window.parent) return;
    let message = event.data;
    if (typeof message === "string") {
      try { message = JSON.parse(message); } catch { return; }
    }
    const { eventType, eventData = {} } = message || {};
    if (eventType === "main_button_pressed" && this.mainHandler) this.mainHandler();
    else if (eventType === "back_button_pressed" && this.backHandler) this.backHandler();
    else if (eventType === "theme_changed") applyTheme(eventData.theme_params);
    else if (eventType === "invoice_closed") {
      const resolve = this.invoices.get(eventData.slug);
      this.invoices.delete(eventData.slug);
      if (resolve) resolve(eventData.status || "failed");
    }
  }

  ready() {
    this.post("web_app_ready");
    this.post("web_app_expand");
    this.post("web_app_request_theme");
  }

  setMainButton(options) {
    this.mainHandler = options ? options.onClick : null;
    this.post("web_app_setup_main_button", options ? {
      is_visible: true,
      is_active: options.enabled !== false,
      is_progress_visible: Boolean(options.progress),
      text: options.text,
    } : { is_visible: false });
  }

  setBackButton(onClick) {
    this.backHandler = onClick;
    this.post("web_app_setup_back_button", { is_visible: Boolean(onClick) });
  }

  haptic(kind) {
    const data = kind === "select" ? { type: "selection_change" }
      : ["success", "error", "warning"].includes(kind) ? { type: "notification", notification_type: kind }
        : { type: "impact", impact_style: "light" };
    this.post("web_app_trigger_haptic_feedback", data);
  }

  openInvoice(url) {
    // Telegram's invoice links: t.me/$<slug> or t.me/invoice/<slug>.
    const match = url.match(/\/(\$|invoice\/)([A-Za-z0-9_=-]+)$/);
    if (!match) return Promise.resolve("failed");
    const slug = match[2];
    return new Promise((resolve) => {
      this.invoices.set(slug, resolve);
      this.post("web_app_open_invoice", { slug });
    });
  }

  openLink(url) {
    this.post("web_app_open_link", { url });
  }
}

/** A plain browser tab: the page's own buttons stand in for Telegram's. */
class PageBridge {
  constructor(launch) {
    this.kind = "browser";
    this.initData = launch.initData || "";
    this.user = userOf(this.initData);
    this.bar = document.getElementById("main-button-bar");
    this.button = document.getElementById("main-button");
    this.back = document.getElementById("back");
    this.mainHandler = null;
    this.backHandler = null;
    this.button.addEventListener("click", () => this.mainHandler && this.mainHandler());
    this.back.addEventListener("click", () => this.backHandler && this.backHandler());
  }

  ready() {}

  setMainButton(options) {
    this.mainHandler = options ? options.onClick : null;
    this.bar.hidden = !options;
    document.body.classList.toggle("has-main-button", Boolean(options));
    if (!options) return;
    this.button.textContent = options.text;
    this.button.disabled = options.enabled === false || Boolean(options.progress);
    this.button.setAttribute("aria-busy", String(Boolean(options.progress)));
  }

  setBackButton(onClick) {
    this.backHandler = onClick;
    this.back.hidden = !onClick;
  }

  haptic() {}

  openInvoice(url) {
    // Invoices are paid inside Telegram; here the link can only be shown.
    window.open(url, "_blank", "noopener");
    return Promise.resolve("pending");
  }

  openLink(url) {
    window.open(url, "_blank", "noopener");
  }
}

export function connect() {
  const native = window.Telegram && window.Telegram.WebApp;
  if (native && native.initData) return new NativeBridge(native);
  const launch = launchParams();
  if (window.parent !== window) return new FrameBridge(launch);
  return new PageBridge(launch);
}
