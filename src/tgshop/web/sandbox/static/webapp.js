// The Mini App in a phone-sized frame, launched the way Telegram launches it: the bot's URL
// with signed launch data (tgWebAppData=initData...) in the fragment, from
// POST /sandbox/api/users/{id}/web-app. Events the Mini App posts to its parent frame
// (telegram-web-app.js does that inside an iframe) get a Telegram-like answer.

import { alertDialog, toast } from "./dom.js";

export class WebAppFrame {
  constructor(app) {
    this.app = app;
    this.dialog = document.getElementById("webapp-dialog");
    this.frame = this.dialog.querySelector("iframe");
    this.mainButton = this.dialog.querySelector(".webapp-main-button");
    this.backButton = this.dialog.querySelector(".webapp-back");
    this.dialog.querySelector(".webapp-close").addEventListener("click", () => this.close());
    this.dialog.addEventListener("close", () => { this.frame.src = "about:blank"; });
    this.mainButton.addEventListener("click", () => this.post("main_button_pressed"));
    this.backButton.addEventListener("click", () => this.post("back_button_pressed"));
    window.addEventListener("message", (event) => this.receive(event));
  }

  /** Open `url` (signed already, or signed now for the current person). */
  async open(url, title, signed = false) {
    let launch = url;
    if (!signed) {
      try {
        launch = (await this.app.api.webApp(this.app.me().id, url)).url;
      } catch (error) {
        toast(error.message, "error");
        return;
      }
    }
    this.dialog.querySelector(".webapp-title").textContent = title || "Mini App";
    const link = this.dialog.querySelector(".webapp-newtab");
    link.href = launch;
    const data = new URLSearchParams(new URL(launch).hash.slice(1)).get("tgWebAppData") || "";
    this.dialog.querySelector(".webapp-initdata").textContent = data;
    this.mainButton.hidden = true;
    this.backButton.hidden = true;
    this.frame.src = launch;
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  post(eventType, eventData = {}) {
    if (!this.frame.contentWindow) return;
    this.frame.contentWindow.postMessage(JSON.stringify({ eventType, eventData }), "*");
  }

  theme() {
    const style = getComputedStyle(document.documentElement);
    const read = (name) => style.getPropertyValue(name).trim();
    return {
      bg_color: read("--panel"), text_color: read("--text"), hint_color: read("--muted"),
      link_color: read("--accent"), button_color: read("--accent"), button_text_color: "#ffffff",
      secondary_bg_color: read("--bg"),
    };
  }

  async receive(event) {
    if (!this.dialog.open || event.source !== this.frame.contentWindow) return;
    let message = event.data;
    if (typeof message === "string") {
      try { message = JSON.parse(message); } catch { return; }
    }
    const { eventType, eventData = {} } = message || {};
    switch (eventType) {
      case "web_app_close": this.close(); break;
      case "web_app_open_link": case "web_app_open_tg_link":
        if (eventData.url || eventData.path_full) {
          window.open(eventData.url || `https://t.me${eventData.path_full}`, "_blank", "noopener");
        }
        break;
      case "web_app_request_theme": this.post("theme_changed", { theme_params: this.theme() }); break;
      case "web_app_request_viewport":
        this.post("viewport_changed", {
          height: this.frame.clientHeight, is_state_stable: true, is_expanded: true,
        });
        break;
      case "web_app_setup_main_button": {
        const button = this.mainButton;
        button.hidden = !eventData.is_visible || !eventData.text;
        button.textContent = eventData.text || "";
        button.disabled = eventData.is_active === false;
        button.classList.toggle("pending", Boolean(eventData.is_progress_visible));
        if (eventData.color) button.style.backgroundColor = eventData.color;
        if (eventData.text_color) button.style.color = eventData.text_color;
        break;
      }
      case "web_app_setup_back_button": this.backButton.hidden = !eventData.is_visible; break;
      case "web_app_open_popup":
        await alertDialog(eventData.message || "", eventData.title || "");
        this.post("popup_closed", { button_id: (eventData.buttons || [{}])[0].id });
        break;
      case "web_app_open_invoice": {
        const slug = eventData.slug;
        let status = "failed";
        try {
          const result = await this.app.api.payLink(this.app.me().id, slug);
          status = result.status === "paid" ? "paid" : "failed";
          if (status !== "paid") toast(result.reason || "The payment failed", "error");
        } catch (error) {
          toast(error.message, "error");
        }
        this.post("invoice_closed", { slug, status });
        break;
      }
      default: break;
    }
  }
}

