// The sandbox chat page: who you are, your chats, the chat with the bot, the managers' group.

import { Api } from "./api.js";
import { ChatView } from "./chatview.js";
import { avatar, clear, clock, fillIcons, h, toast } from "./dom.js";
import { preview } from "./format.js";
import { WebAppFrame } from "./webapp.js";

const LIST_POLL_MS = 1500;
const BOT_POLL_MS = 2000;
const STORE = "tgshop-sandbox";

const $ = (id) => document.getElementById(id);

function stored(key, fallback) {
  try { return JSON.parse(localStorage.getItem(`${STORE}:${key}`)) ?? fallback; } catch { return fallback; }
}

function store(key, value) {
  try { localStorage.setItem(`${STORE}:${key}`, JSON.stringify(value)); } catch { /* private mode */ }
}

class Page {
  constructor() {
    this.api = new Api();
    this.bots = [];
    this.botAccount = null;
    this.users = [];
    this.current = null;
    this.chats = [];
    this.seenVersions = stored("seen", {});
    this.mainChat = null;
    this.panelChat = null;
    fillIcons(document.body);
    fillIcons($("chat-view").content);
    this.wakeList = null;
    const services = {
      api: this.api,
      me: () => this.current,
      bot: () => this.botAccount,
      openWebApp: (url, title, signed) => this.webApp.open(url, title, signed),
      seen: (chatId, version) => this.markSeen(chatId, version),
      ask: (dialogId, values) => this.ask(dialogId, values),
    };
    this.webApp = new WebAppFrame(services);
    this.main = new ChatView(this.cloneView($("main-chat")), services);
    this.panel = new ChatView(this.cloneView($("panel-chat")), services, { compact: true });
    this.main.q(".chat-tools").append($("panel-toggle"));
  }

  cloneView(slot) {
    const view = $("chat-view").content.firstElementChild.cloneNode(true);
    // Ids inside a cloned view must stay unique: suffix them with the slot's id.
    for (const node of view.querySelectorAll("[id]")) node.id = `${node.id}-${slot.id}`;
    for (const label of view.querySelectorAll("label[for]")) label.htmlFor = `${label.htmlFor}-${slot.id}`;
    view.hidden = true;
    slot.append(view);
    return view;
  }

  // ------------------------------------------------------------------ start

  async start() {
    this.wire();
    await this.waitForBot();
    await this.loadUsers();
    this.pollChats();
  }

  wire() {
    $("user-select").addEventListener("change", (event) => this.pick(Number(event.target.value)));
    $("bot-select").addEventListener("change", (event) => this.pickBot(event.target.value));
    $("new-user-toggle").addEventListener("click", () => this.toggleNewUser());
    $("new-user-form").addEventListener("submit", (event) => { event.preventDefault(); this.createUser(); });
    $("panel-toggle").addEventListener("click", () => this.togglePanel());
    $("panel-select").addEventListener("change", (event) => this.showPanel(Number(event.target.value)));
    this.main.q(".back-button").addEventListener("click", () => {
      document.body.classList.remove("chat-open");
      $("chat-list").querySelector("[aria-current=true]")?.focus();
    });
    this.panel.q(".back-button").addEventListener("click", () => this.togglePanel(false));
  }

  async waitForBot() {
    for (;;) {
      try {
        this.bots = await this.api.bots();
      } catch (error) {
        this.bots = [];
        $("no-bot-detail").textContent = error.message;
      }
      if (this.bots.length) break;
      $("no-bot").hidden = false;
      await new Promise((resolve) => setTimeout(resolve, BOT_POLL_MS));
    }
    $("no-bot").hidden = true;
    $("app").hidden = false;
    const select = $("bot-select");
    clear(select).append(...this.bots.map((bot) => h("option", { value: bot.username }, `@${bot.username}`)));
    select.closest(".field").hidden = this.bots.length < 2;
    const wanted = this.bots.find((bot) => bot.username === stored("bot", null)) || this.bots[0];
    select.value = wanted.username;
    this.useBot(wanted);
  }

  useBot(bot) {
    this.botAccount = bot;
    this.api.bot = this.bots.length > 1 ? bot.username : null;
    $("bot-name").textContent = bot.first_name;
    $("bot-username").textContent = `@${bot.username}`;
    store("bot", bot.username);
  }

  pickBot(username) {
    this.useBot(this.bots.find((bot) => bot.username === username));
    this.main.show(null);
    this.panel.show(null);
    this.mainChat = null;
    this.panelChat = null;
    if (this.current) this.openChat(this.current.id);
  }

  // ------------------------------------------------------------------ people

  async loadUsers(selectId = null) {
    this.users = await this.api.users();
    const select = $("user-select");
    clear(select);
    if (!this.users.length) select.append(h("option", { value: "" }, "Nobody yet"));
    for (const user of this.users) {
      const handle = user.username ? ` @${user.username}` : "";
      const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
      select.append(h("option", { value: user.id }, `${name}${handle} · ${user.language_code || "en"}`));
    }
    select.disabled = !this.users.length;
    const wanted = selectId ?? stored("user", null);
    const user = this.users.find((u) => u.id === wanted) || null;
    // On a phone the page starts on the chat list; a choice made now opens the chat.
    const reveal = selectId !== null;
    if (user) {
      this.pick(user.id, reveal);
    } else if (this.users.length) {
      // A first visit: invite the visitor to be someone new (the demo's people are managers).
      this.pick(this.users[0].id, reveal);
      this.toggleNewUser(true);
    } else {
      this.toggleNewUser(true);
    }
  }

  pick(userId, reveal = true) {
    const user = this.users.find((u) => u.id === userId);
    if (!user) return;
    this.current = user;
    $("user-select").value = String(user.id);
    store("user", user.id);
    $("who-avatar").replaceChildren(avatar(user.first_name, user.id));
    $("start-hint").hidden = true;
    this.mainChat = null;
    this.openChat(user.id, reveal);
    if (this.panel.chatId !== null) this.panel.reload();
    this.renderChatList();
  }

  toggleNewUser(force) {
    const form = $("new-user-form");
    const show = force ?? form.hidden;
    form.hidden = !show;
    $("new-user-toggle").setAttribute("aria-expanded", String(show));
    if (show) $("new-first-name").focus();
  }

  async createUser() {
    const form = $("new-user-form");
    const data = new FormData(form);
    try {
      const user = await this.api.createUser({
        first_name: data.get("first_name").trim(),
        username: data.get("username").trim().replace(/^@/, "") || null,
        last_name: data.get("last_name").trim() || null,
        language_code: data.get("language_code"),
      });
      form.reset();
      this.toggleNewUser(false);
      await this.loadUsers(user.id);
      toast(`You are now ${user.first_name}`);
      this.main.q(".composer-input").focus();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  // ------------------------------------------------------------------ chats

  async pollChats() {
    for (;;) {
      try {
        this.chats = await this.api.chats();
        $("offline").hidden = true;
      } catch (error) {
        $("offline").hidden = false;
        $("offline").textContent = error.message;
      }
      this.renderChatList();
      await new Promise((resolve) => {
        this.wakeList = resolve;
        setTimeout(resolve, LIST_POLL_MS);
      });
    }
  }

  /** A chat view saw a new version: refresh the chat list now rather than at the next tick. */
  refreshList(chatId, version) {
    const known = this.chats.find((chat) => chat.id === chatId);
    if (this.wakeList && (!known || known.version !== version)) this.wakeList();
  }

  visibleChats() {
    if (!this.current) return [];
    const mine = this.chats.filter((chat) => (chat.type === "private" ? chat.id === this.current.id : true));
    if (!mine.some((chat) => chat.id === this.current.id)) {
      mine.unshift({ id: this.current.id, type: "private", version: 0, last_message: null, member_ids: [] });
    }
    const date = (chat) => (chat.last_message ? chat.last_message.date : 0);
    return mine.sort((a, b) => date(b) - date(a) || (a.type === "private" ? -1 : 1));
  }

  renderChatList() {
    const list = $("chat-list");
    const chats = this.visibleChats();
    for (const chat of chats) {
      if (chat.id === this.main.chatId) this.main.setAction(chat.chat_action);
      if (chat.id === this.panel.chatId) this.panel.setAction(chat.chat_action);
    }
    this.renderPanelChoice(chats.filter((chat) => chat.type !== "private"));
    // Rebuild the list only when something in it changed, and keep keyboard focus.
    const signature = JSON.stringify([this.mainChat, this.botAccount.id,
      chats.map((c) => [c.id, c.title, c.version, c.chat_action, this.isUnread(c)])]);
    if (signature === list.dataset.signature) return;
    list.dataset.signature = signature;
    const focused = document.activeElement?.closest?.("#chat-list [data-chat-id]")?.dataset.chatId;
    clear(list);
    for (const chat of chats) {
      const isPrivate = chat.type === "private";
      const title = isPrivate ? this.botAccount.first_name : chat.title;
      const last = chat.last_message;
      const unread = this.isUnread(chat);
      const action = chat.chat_action ? "typing…" : null;
      const who = last && !isPrivate ? `${last.from.id === this.current.id ? "You" : last.from.first_name}: ` : "";
      const current = chat.id === this.mainChat;
      list.append(h("li", {}, h("button", {
        type: "button", class: `chat-item${unread ? " unread" : ""}`, dataset: { chatId: chat.id },
        "aria-current": current ? "true" : false,
        onclick: () => this.openChat(chat.id),
      },
      avatar(title, isPrivate ? this.botAccount.id : chat.id),
      h("span", { class: "chat-item-body" },
        h("span", { class: "chat-item-top" },
          h("span", { class: "chat-item-title" }, title, isPrivate ? h("span", { class: "bot-tag" }, "bot") : null),
          h("span", { class: "chat-item-time" }, last ? clock(last.date) : "")),
        h("span", { class: "chat-item-bottom" },
          h("span", { class: `chat-item-preview${action ? " acting" : ""}` },
            action || (last ? who + preview(last) : isPrivate ? "No messages yet: send /start" : "No messages yet")),
          unread ? h("span", { class: "unread-dot" }, h("span", { class: "visually-hidden" }, "unread")) : null)))));
    }
    if (focused) list.querySelector(`[data-chat-id="${focused}"]`)?.focus();
  }

  isUnread(chat) {
    if (!chat.last_message || chat.last_message.from.id === this.current.id) return false;
    const visible = (chat.id === this.main.chatId && !document.hidden)
      || (chat.id === this.panel.chatId && this.panelOpen());
    if (visible) return false;
    return chat.version > (this.seenVersions[`${this.current.id}:${chat.id}`] || 0);
  }

  markSeen(chatId, version) {
    if (!this.current) return;
    this.refreshList(chatId, version);
    if (chatId === this.panel.chatId && chatId !== this.main.chatId && !this.panelOpen()) return;
    const key = `${this.current.id}:${chatId}`;
    if ((this.seenVersions[key] || 0) >= version) return;
    this.seenVersions[key] = version;
    store("seen", this.seenVersions);
  }

  openChat(chatId, reveal = true) {
    this.mainChat = chatId;
    this.main.show(chatId);
    if (reveal) document.body.classList.add("chat-open");
    this.renderChatList();
  }

  // ------------------------------------------------------------------ the side panel

  panelOpen() { return document.body.classList.contains("panel-open"); }

  renderPanelChoice(groups) {
    const toggle = $("panel-toggle");
    toggle.hidden = groups.length === 0;
    const select = $("panel-select");
    const signature = JSON.stringify(groups.map((g) => [g.id, g.title]));
    if (select.dataset.signature !== signature) {
      select.dataset.signature = signature;
      clear(select).append(...groups.map((g) => h("option", { value: g.id }, g.title)));
      $("side-panel").querySelector(".panel-head").hidden = groups.length < 2;
    }
    if (!groups.length) return;
    if (this.panelChat === null || !groups.some((g) => g.id === this.panelChat)) {
      this.showPanel(groups[0].id);
      // Wide screens show the managers' chat from the start.
      if (stored("panel", window.innerWidth >= 1200)) this.togglePanel(true);
    }
    select.value = String(this.panelChat);
  }

  showPanel(chatId) {
    this.panelChat = chatId;
    if (this.panelOpen()) this.panel.show(chatId);
  }

  togglePanel(force) {
    const open = force ?? !this.panelOpen();
    document.body.classList.toggle("panel-open", open);
    $("panel-toggle").setAttribute("aria-expanded", String(open));
    store("panel", open);
    this.panel.show(open ? this.panelChat : null);
    $("side-panel").hidden = !open;
  }

  // ------------------------------------------------------------------ small dialogs

  /** Show a form dialog filled with `values`; resolves to its FormData, or null if cancelled. */
  ask(dialogId, values) {
    const dialog = $(dialogId);
    const form = dialog.querySelector("form");
    for (const [name, value] of Object.entries(values)) form.elements[name].value = value;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "ok" ? new FormData(form) : null);
      }, { once: true });
    });
  }
}

new Page().start().catch((error) => {
  toast(`The page failed to start: ${error.message}`, "error");
  throw error;
});
