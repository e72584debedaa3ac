// One message as a bubble: text, media, invoice, service notes, its inline keyboard.

import { avatar, clock, h, icon } from "./dom.js";
import { formatAmount, renderText } from "./format.js";

function largest(sizes) {
  return sizes.reduce((best, size) =>
    (size.width * size.height >= best.width * best.height ? size : best));
}

function humanSize(bytes) {
  if (!bytes) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function photo(message, ctx) {
  const size = largest(message.photo);
  const url = ctx.api.fileUrl(size.file_id);
  const img = h("img", {
    src: url, alt: message.caption || "Photo", loading: "lazy", decoding: "async",
    width: size.width, height: size.height,
  });
  const figure = h("a", { class: "photo", href: url, target: "_blank", rel: "noopener" }, img);
  // A photo the bot sent by URL has no bytes here (the sandbox never goes online).
  img.addEventListener("error", async () => {
    let info = null;
    try { info = await ctx.api.fileInfo(size.file_id); } catch { info = null; }
    const placeholder = h("div", { class: "photo-placeholder", role: "img",
      "aria-label": "Photo sent by URL" },
    icon("image", "photo-placeholder-icon"),
    h("span", {}, "Photo sent by URL (not fetched offline)"),
    info && info.url ? h("a", { href: info.url, target: "_blank", rel: "noopener noreferrer",
      class: "photo-url" }, info.url) : null);
    figure.replaceWith(placeholder);
  }, { once: true });
  return figure;
}

function documentCard(message, ctx) {
  const doc = message.document;
  return h("a", {
    class: "document", href: ctx.api.fileUrl(doc.file_id), download: doc.file_name || "file",
  },
  h("span", { class: "document-icon" }, icon("file")),
  h("span", { class: "document-body" },
    h("span", { class: "document-name" }, doc.file_name || "File"),
    h("span", { class: "document-size" }, [humanSize(doc.file_size), doc.mime_type].filter(Boolean).join(" · "))));
}

function invoiceCard(message, ctx) {
  const invoice = message.invoice;
  const paid = ctx.paid.has(message.message_id);
  return h("div", { class: "invoice" },
    h("div", { class: "invoice-title" }, invoice.title),
    h("div", { class: "invoice-description" }, invoice.description),
    h("div", { class: "invoice-amount" },
      formatAmount(invoice.total_amount, invoice.currency),
      paid ? h("span", { class: "badge badge-paid" }, "Paid") : null));
}

function contactCard(contact) {
  const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
  return h("div", { class: "contact" },
    avatar(name, contact.user_id || 0, "avatar-small"),
    h("span", {}, h("strong", {}, name), h("br"), contact.phone_number));
}

function locationCard(location) {
  const lat = location.latitude.toFixed(5);
  const lon = location.longitude.toFixed(5);
  return h("div", { class: "location" }, icon("pin"), `Location ${lat}, ${lon}`);
}

/**
 * Telegram would open a CryptoBot invoice link in @CryptoBot; offline, the sandbox's own
 * CryptoBot checkout page stands in for it. Every other link opens as it is.
 */
export function localLink(url) {
  const match = /^https:\/\/t\.me\/(?:CryptoBot|CryptoTestnetBot)\?start=([\w-]+)$/.exec(url);
  return match ? `/sandbox/cryptobot/pay/${match[1]}` : url;
}

function inlineKeyboard(message, ctx) {
  const rows = (message.reply_markup || {}).inline_keyboard || [];
  if (!rows.length) return null;
  const paid = ctx.paid.has(message.message_id);
  return h("div", { class: "inline-keyboard", role: "group", "aria-label": "Message buttons" },
    rows.map((row) => h("div", { class: "kb-row" }, row.map((button) => {
      if (button.url) {
        return h("a", { class: "kb-button", href: localLink(button.url), target: "_blank",
          rel: "noopener noreferrer" }, button.text, icon("external", "kb-mark"),
        h("span", { class: "visually-hidden" }, " (opens a new tab)"));
      }
      const node = h("button", {
        type: "button", class: `kb-button${button.pay ? " kb-pay" : ""}`,
        disabled: button.pay && paid,
        onclick: () => ctx.onButton(message, button, node),
      }, button.pay && paid ? "Paid ✓" : button.text,
      button.web_app ? [icon("app", "kb-mark"), h("span", { class: "visually-hidden" }, " (opens the Mini App)")] : null);
      return node;
    }))));
}

function service(message, ctx) {
  const payment = message.successful_payment;
  const who = message.from.id === ctx.me ? "You" : message.from.first_name;
  return h("li", { class: "service", dataset: { messageId: message.message_id } },
    h("span", {}, `${who} paid ${formatAmount(payment.total_amount, payment.currency)}`));
}

/** The list item for `message`; ctx: {api, me, chatType, paid:Set, onButton, onCommand}. */
export function renderMessage(message, ctx) {
  if (message.successful_payment) return service(message, ctx);
  const mine = message.from.id === ctx.me;
  const fromBot = message.from.is_bot;
  const showName = ctx.chatType !== "private" && !mine;
  const name = [message.from.first_name, message.from.last_name].filter(Boolean).join(" ");
  const handlers = { command: ctx.onCommand };
  const body = [];
  if (message.photo) body.push(photo(message, ctx));
  if (message.document) body.push(documentCard(message, ctx));
  if (message.invoice) body.push(invoiceCard(message, ctx));
  if (message.contact) body.push(contactCard(message.contact));
  if (message.location) body.push(locationCard(message.location));
  const text = message.text ?? message.caption;
  const entities = message.text !== undefined ? message.entities : message.caption_entities;
  if (text) body.push(h("div", { class: "text" }, renderText(text, entities, handlers)));
  const meta = h("span", { class: "meta" },
    message.edit_date ? h("span", { class: "edited" }, "edited") : null,
    h("time", { datetime: new Date(message.date * 1000).toISOString() }, clock(message.date)));
  const bubble = h("div", { class: "bubble" },
    showName
      ? h("div", { class: `sender${fromBot ? " sender-bot" : ""}` }, name)
      : h("span", { class: "visually-hidden" }, `${mine ? "You" : name}: `),
    body, meta);
  return h("li", {
    class: `message ${mine ? "out" : "in"}${fromBot ? " from-bot" : ""}`,
    dataset: { messageId: message.message_id },
  }, bubble, inlineKeyboard(message, ctx));
}
