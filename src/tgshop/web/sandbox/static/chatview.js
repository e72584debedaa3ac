// A live chat: long-polls GET /sandbox/api/chats/{id}?after_version=N&wait=25 and shows
// the messages, the reply keyboard and a composer. The page has two: the chat in the
// centre and the group (managers') chat in the side panel.

import { ApiError } from "./api.js";
import { alertDialog, avatar, clear, h, icon, toast } from "./dom.js";
import { renderMessage } from "./message.js";

const LONG_POLL_SECONDS = 25;
const RETRY_MS = 2000;
// How long the page waits for the bot before saying it has not answered.
const ANSWER_PATIENCE_MS = 6000;
const ACTION_LABELS = {
  typing: "typing…",
  upload_photo: "sending a photo…",
  upload_document: "sending a file…",
  find_location: "choosing a location…",
  choose_sticker: "choosing a sticker…",
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class ChatView {
  /** `app`: {api, me(), bot(), openWebApp(url, title), seen(chatId, version), panel} */
  constructor(root, app, { compact = false } = {}) {
    this.root = root;
    this.app = app;
    this.compact = compact;
    this.chatId = null;
    this.state = null;
    this.generation = 0;
    this.controller = null;
    this.nodes = new Map();
    this.action = null;
    this.awaiting = null;
    this.botSignature = "";
    this.q = (selector) => root.querySelector(selector);
    this.list = this.q(".messages");
    this.scroller = this.q(".messages-scroll");
    this.wire();
  }

  wire() {
    const form = this.q(".composer");
    const input = this.q(".composer-input");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendText(input.value);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendText(input.value);
      }
    });
    input.addEventListener("input", () => this.autosize());
    this.q(".block-toggle").addEventListener("click", () => this.toggleBlock());
    this.q(".start-button").addEventListener("click", () => this.sendText("/start"));
    this.q(".unblock-button").addEventListener("click", () => this.toggleBlock());
    this.q(".keyboard-toggle").addEventListener("click", () => {
      const keyboard = this.q(".reply-keyboard");
      const hide = !keyboard.hidden;
      keyboard.hidden = hide;
      this.q(".keyboard-toggle").setAttribute("aria-expanded", String(!hide));
    });
    this.q(".share-contact").addEventListener("click", () => this.shareContact());
    this.q(".share-location").addEventListener("click", () => this.shareLocation());
    const file = this.q(".photo-input");
    this.q(".send-photo").addEventListener("click", () => file.click());
    file.addEventListener("change", () => this.sendPhoto(file));
  }

  autosize() {
    const input = this.q(".composer-input");
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  me() { return this.app.me(); }

  // ------------------------------------------------------------------ showing a chat

  show(chatId) {
    if (chatId === this.chatId) return;
    this.stop();
    this.chatId = chatId;
    this.state = null;
    this.nodes.clear();
    clear(this.list);
    this.awaiting = null;
    this.botSignature = "";
    this.setNotice(null);
    this.root.hidden = chatId === null;
    if (chatId === null) return;
    this.q(".chat-title").textContent = "…";
    const generation = ++this.generation;
    this.controller = new AbortController();
    this.poll(generation, this.controller.signal);
  }

  /** Read the chat again from scratch (the person looking at it changed). */
  reload() {
    const chatId = this.chatId;
    this.show(null);
    this.show(chatId);
  }

  stop() {
    this.generation += 1;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async poll(generation, signal) {
    let version = -1;
    while (generation === this.generation) {
      let state;
      try {
        state = await this.app.api.chat(this.chatId, version, version < 0 ? 0 : LONG_POLL_SECONDS, signal);
      } catch (error) {
        if (error.name === "AbortError" || generation !== this.generation) return;
        const gone = error instanceof ApiError && error.status === 404;
        this.setNotice(gone ? "This chat does not exist (any more)." : error.message, "error");
        await sleep(RETRY_MS);
        continue;
      }
      if (generation !== this.generation) return;
      if (this.noticeKind === "error") this.setNotice(null);
      version = state.version;
      this.render(state);
    }
  }

  // ------------------------------------------------------------------ rendering

  render(state) {
    this.state = state;
    const chat = state.chat;
    const isPrivate = chat.type === "private";
    const bot = this.app.bot();
    const title = isPrivate ? bot.first_name : chat.title;
    this.q(".chat-title").textContent = title;
    const avatarSlot = this.q(".chat-avatar");
    clear(avatarSlot).append(avatar(title, isPrivate ? bot.id : chat.id));
    this.action = state.chat_action;
    this.renderStatus();
    this.renderMessages(state);
    this.renderKeyboard(isPrivate ? state.reply_keyboard : null);

    const blocked = isPrivate && state.blocked;
    const toggle = this.q(".block-toggle");
    toggle.hidden = !isPrivate;
    toggle.textContent = blocked ? "Unblock bot" : "Block bot";
    toggle.setAttribute("aria-pressed", String(blocked));
    const member = isPrivate || state.member_ids.includes(this.me().id);
    this.q(".composer").hidden = blocked || !member;
    this.q(".attach").hidden = !isPrivate;
    this.q(".blocked-bar").hidden = !blocked;
    this.q(".not-member").hidden = member;
    this.q(".not-member-text").textContent =
      `${this.me().first_name} is not in this group: you can watch it and press its buttons.`;
    this.q(".empty").hidden = !(isPrivate && !blocked && state.messages.length === 0);
    this.app.seen(chat.id, state.version);

    const signature = JSON.stringify(state.messages.filter((m) => m.from.is_bot)
      .map((m) => [m.message_id, m.edit_date || 0]));
    if (signature !== this.botSignature) {
      this.botSignature = signature;
      this.awaiting = null;
      if (this.noticeKind === "waiting") this.setNotice(null);
    }
  }

  setAction(action) {
    if (action === this.action) return;
    this.action = action;
    this.renderStatus();
  }

  renderStatus() {
    const status = this.q(".chat-status");
    const chat = this.state && this.state.chat;
    if (!chat) return;
    const acting = this.action ? ACTION_LABELS[this.action] || `${this.action.replace(/_/g, " ")}…` : null;
    status.classList.toggle("acting", Boolean(acting));
    if (chat.type === "private") {
      status.textContent = acting || (this.state.blocked ? "blocked by you" : "bot");
    } else {
      const members = this.state.member_ids.length;
      status.textContent = acting
        ? `${this.app.bot().first_name} is ${acting}`
        : `${members} member${members === 1 ? "" : "s"}`;
    }
  }

  renderMessages(state) {
    const atBottom = this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
    const paid = new Set(state.paid_message_ids || []);
    const ctx = {
      api: this.app.api,
      me: this.me().id,
      chatType: state.chat.type,
      paid,
      onButton: (message, button, node) => this.pressInline(message, button, node),
      onCommand: (command) => this.sendText(command),
    };
    const wanted = [];
    const keep = new Set();
    let sawNewOwn = false;
    for (const message of state.messages) {
      const key = JSON.stringify(message) + (paid.has(message.message_id) ? "$paid" : "");
      const id = message.message_id;
      keep.add(id);
      let entry = this.nodes.get(id);
      if (!entry || entry.key !== key) {
        const node = renderMessage(message, ctx);
        if (entry) entry.node.replaceWith(node);
        else if (message.from.id === ctx.me) sawNewOwn = true;
        entry = { key, node };
        this.nodes.set(id, entry);
      }
      wanted.push(entry.node);
    }
    for (const [id, entry] of this.nodes) {
      if (!keep.has(id)) { entry.node.remove(); this.nodes.delete(id); }
    }
    wanted.forEach((node, index) => {
      if (this.list.children[index] !== node) this.list.insertBefore(node, this.list.children[index] || null);
    });
    if (atBottom || sawNewOwn) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  renderKeyboard(keyboard) {
    const area = this.q(".reply-keyboard");
    const toggle = this.q(".keyboard-toggle");
    const input = this.q(".composer-input");
    const rows = (keyboard && keyboard.keyboard) || [];
    const signature = JSON.stringify(keyboard);
    toggle.hidden = rows.length === 0;
    input.placeholder = (keyboard && keyboard.input_field_placeholder) || "Message";
    if (signature === area.dataset.signature) return;
    area.dataset.signature = signature;
    clear(area);
    area.hidden = rows.length === 0;
    toggle.setAttribute("aria-expanded", String(rows.length > 0));
    for (const row of rows) {
      area.append(h("div", { class: "kb-row" }, row.map((button) => {
        const mark = button.request_contact ? "phone" : button.request_location ? "pin" : button.web_app ? "app" : null;
        const node = h("button", {
          type: "button", class: "kb-button reply",
          onclick: () => this.pressReply(button, node),
        }, mark ? icon(mark, "kb-mark") : null, button.text);
        return node;
      })));
    }
  }

  setNotice(text, kind = "info", extra = null) {
    const notice = this.q(".notice");
    this.noticeKind = text ? kind : null;
    clear(notice);
    notice.hidden = !text;
    notice.className = `notice notice-${kind}`;
    if (text) notice.append(text, extra || "");
  }

  // ------------------------------------------------------------------ what the person does

  async act(work, { expectAnswer = true } = {}) {
    try {
      const result = await work();
      if (expectAnswer) this.expectAnswer();
      return result;
    } catch (error) {
      toast(error.message, "error");
      return undefined;
    }
  }

  expectAnswer() {
    const since = Date.now();
    this.awaiting = since;
    const signature = this.botSignature;
    setTimeout(async () => {
      if (this.awaiting !== since || this.botSignature !== signature) return;
      let detail = "";
      try {
        const calls = await this.app.api.calls();
        if (!calls.length) {
          detail = ` It has never called the sandbox: start it with its Bot API server set to ${location.origin}.`;
        } else {
          const last = calls[calls.length - 1];
          const ago = Math.max(0, Math.round(Date.now() / 1000 - last.at));
          detail = ` Its last Bot API call was ${last.method}, ${ago} s ago.`;
        }
      } catch { /* the notice is enough */ }
      if (this.awaiting === since) this.setNotice(`The bot has not answered yet.${detail}`, "waiting");
    }, ANSWER_PATIENCE_MS);
  }

  async sendText(raw) {
    const text = raw.trim();
    if (!text || this.chatId === null) return;
    const input = this.q(".composer-input");
    const isPrivate = this.state && this.state.chat.type === "private";
    if (raw === input.value) { input.value = ""; this.autosize(); }
    const sent = await this.act(() => this.app.api.send(this.me().id, text, isPrivate ? undefined : this.chatId));
    if (sent === undefined && !input.value) input.value = raw;
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  async pressInline(message, button, node) {
    const me = this.me().id;
    if (button.web_app) { this.app.openWebApp(button.web_app.url, button.text); return; }
    if (button.copy_text) {
      try {
        await navigator.clipboard.writeText(button.copy_text.text);
        toast("Copied to the clipboard");
      } catch {
        alertDialog(button.copy_text.text, "Copy this text");
      }
      return;
    }
    if (button.pay) { this.pay(message, node); return; }
    if (!button.callback_data) {
      toast(`“${button.text}”: this kind of button is not supported in the sandbox`);
      return;
    }
    node.classList.add("pending");
    node.setAttribute("aria-busy", "true");
    try {
      const result = await this.act(
        () => this.app.api.press(me, this.chatId, message.message_id, button.text),
        { expectAnswer: false });
      if (!result) return;
      if (!result.answered) {
        toast("The bot did not answer this button press (Telegram gives up after a while)", "error");
      } else if (result.text && result.show_alert) {
        await alertDialog(result.text, this.app.bot().first_name);
      } else if (result.text) {
        toast(result.text);
      }
      if (result.url) window.open(result.url, "_blank", "noopener");
    } finally {
      node.classList.remove("pending");
      node.removeAttribute("aria-busy");
    }
  }

  async pay(message, node) {
    node.classList.add("pending");
    node.disabled = true;
    const result = await this.act(
      () => this.app.api.pay(this.me().id, this.chatId, message.message_id), { expectAnswer: false });
    node.classList.remove("pending");
    node.disabled = false;
    if (!result) return;
    if (result.status === "paid") toast("Payment sent");
    else await alertDialog(result.reason || "The payment failed", "Payment not completed");
  }

  async pressReply(button, node) {
    if (button.web_app) { this.app.openWebApp(button.web_app.url, button.text); return; }
    node.disabled = true;
    const result = await this.act(() => this.app.api.replyButton(this.me().id, button.text));
    node.disabled = false;
    if (result && result.open) this.app.openWebApp(result.open, button.text, true);
  }

  async toggleBlock() {
    const me = this.me().id;
    const blocked = this.state && this.state.blocked;
    await this.act(() => (blocked ? this.app.api.unblock(me) : this.app.api.block(me)), { expectAnswer: false });
    toast(blocked ? "You unblocked the bot" : "You blocked the bot");
    // Blocking does not change the chat's messages: read it again now.
    try { this.render(await this.app.api.chat(this.chatId, -1, 0)); } catch { /* next poll */ }
  }

  closeAttach() { this.q(".attach").open = false; }

  async shareContact() {
    this.closeAttach();
    const me = this.me();
    const form = await this.app.ask("contact-dialog", { phone: `+1202555${String(me.id % 10_000).padStart(4, "0")}` });
    if (form) await this.act(() => this.app.api.contact(me.id, form.get("phone")));
  }

  async shareLocation() {
    this.closeAttach();
    const form = await this.app.ask("location-dialog", { latitude: "51.5007", longitude: "-0.1246" });
    if (form) {
      await this.act(() => this.app.api.location(this.me().id,
        Number(form.get("latitude")), Number(form.get("longitude"))));
    }
  }

  async sendPhoto(input) {
    this.closeAttach();
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    const data = await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
    const caption = this.q(".composer-input").value.trim();
    const sent = await this.act(() => this.app.api.photo(this.me().id, data, caption));
    if (sent && caption) this.q(".composer-input").value = "";
  }
}
