// The sandbox's control API (/sandbox/api, see docs/sandbox.md), as the page uses it.

const BASE = new URL("api/", document.baseURI);

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor() {
    this.bot = null; // a bot username, when the sandbox has several bots
  }

  url(path, query = {}) {
    const url = new URL(path.replace(/^\//, ""), BASE);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    if (this.bot) url.searchParams.set("bot", this.bot);
    return url;
  }

  async request(method, path, { body, query, signal } = {}) {
    let response;
    try {
      response = await fetch(this.url(path, query), {
        method,
        signal,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("The sandbox is not reachable (is it still running?)", 0);
    }
    let data;
    try {
      data = await response.json();
    } catch {
      throw new ApiError(`The sandbox answered ${response.status} without JSON`, response.status);
    }
    if (!data.ok) throw new ApiError(data.error || `HTTP ${response.status}`, response.status);
    return data.result;
  }

  get(path, query, signal) {
    return this.request("GET", path, { query, signal });
  }

  post(path, body = {}) {
    return this.request("POST", path, { body });
  }

  fileUrl(fileId) {
    return this.url(`files/${encodeURIComponent(fileId)}`).toString();
  }

  // ---- people
  bots() { return this.get("bots"); }
  users() { return this.get("users"); }
  createUser(fields) { return this.post("users", fields); }
  chats() { return this.get("chats"); }
  chat(chatId, afterVersion, wait, signal) {
    return this.get(`chats/${chatId}`, { after_version: afterVersion, wait }, signal);
  }
  calls() { return this.get("calls"); }
  fileInfo(fileId) { return this.get(`files/${encodeURIComponent(fileId)}/info`); }

  // ---- what a person does
  send(userId, text, chatId) { return this.post(`users/${userId}/send`, { text, chat_id: chatId }); }
  press(userId, chatId, messageId, button) {
    return this.post(`users/${userId}/press`, {
      chat_id: chatId, message_id: messageId, button, wait: 10,
    });
  }
  replyButton(userId, text) { return this.post(`users/${userId}/reply-button`, { text }); }
  webApp(userId, url) { return this.post(`users/${userId}/web-app`, { url }); }
  pay(userId, chatId, messageId) {
    return this.post(`users/${userId}/pay`, { chat_id: chatId, message_id: messageId });
  }
  payLink(userId, link) { return this.post(`users/${userId}/pay`, { link }); }
  contact(userId, phone) { return this.post(`users/${userId}/contact`, { phone_number: phone }); }
  location(userId, latitude, longitude) {
    return this.post(`users/${userId}/location`, { latitude, longitude });
  }
  photo(userId, base64, caption) {
    return this.post(`users/${userId}/photo`, { data_base64: base64, caption: caption || null });
  }
  block(userId) { return this.post(`users/${userId}/block`); }
  unblock(userId) { return this.post(`users/${userId}/unblock`); }
}
