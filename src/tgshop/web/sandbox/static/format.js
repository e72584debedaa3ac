// Message text with Bot API entities -> DOM nodes, the way Telegram clients show it.
//
// Entity offsets and lengths count UTF-16 code units, which is exactly how JavaScript
// strings are indexed, so text.slice(offset, offset + length) is the entity's text.
// Nothing here ever parses HTML: every piece of text becomes a text node.

import { h } from "./dom.js";

const SAFE_LINK = /^(https?:|tg:|mailto:|tel:)/i;
// Entities that contain no other formatting (Telegram drops nested ones too).
const LEAF = new Set(["code", "pre"]);

function byPosition(a, b) {
  return a.start - b.start || b.end - a.end;
}

function linkTo(url, children, title) {
  if (!SAFE_LINK.test(url)) return h("span", { class: "link-unsafe", title: url }, children);
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer", title }, children);
}

function elementFor(entity, text, handlers) {
  const inner = text.slice(entity.start, entity.end);
  switch (entity.type) {
    case "bold": return h("b");
    case "italic": return h("i");
    case "underline": return h("u");
    case "strikethrough": return h("s");
    case "spoiler": {
      const node = h("span", {
        class: "spoiler", tabindex: "0", role: "button", "aria-label": "Spoiler: press to reveal",
      });
      const reveal = () => {
        node.classList.add("revealed");
        node.removeAttribute("role");
        node.removeAttribute("tabindex");
        node.removeAttribute("aria-label");
      };
      node.addEventListener("click", reveal);
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); reveal(); }
      });
      return node;
    }
    case "code": return h("code");
    case "pre": {
      const code = h("code", entity.language ? { class: `language-${entity.language}` } : {});
      const pre = h("pre", entity.language ? { "data-language": entity.language } : {}, code);
      pre.content = code;
      return pre;
    }
    case "text_link": return linkTo(entity.url || "", [], entity.url);
    case "url": return linkTo(/^[a-z][a-z0-9+.-]*:/i.test(inner) ? inner : `http://${inner}`, []);
    case "email": return linkTo(`mailto:${inner}`, []);
    case "phone_number": return linkTo(`tel:${inner.replace(/[^\d+]/g, "")}`, []);
    case "blockquote": return h("blockquote");
    case "expandable_blockquote": {
      const quote = h("blockquote", { class: "expandable", tabindex: "0", "aria-expanded": "false" });
      const toggle = () => quote.setAttribute(
        "aria-expanded", String(quote.getAttribute("aria-expanded") !== "true"));
      quote.addEventListener("click", toggle);
      quote.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); toggle(); }
      });
      return quote;
    }
    case "bot_command": {
      // Tapping a command in Telegram sends it.
      if (!handlers.command) return h("span", { class: "command" });
      return h("a", {
        href: "#", class: "command",
        onclick: (event) => { event.preventDefault(); handlers.command(inner); },
      });
    }
    case "mention": case "text_mention": case "hashtag": case "cashtag":
      return h("span", { class: `entity-${entity.type}` });
    case "date_time": return h("time", entity.unix_time ? {
      datetime: new Date(entity.unix_time * 1000).toISOString(),
    } : {});
    default: return h("span", { "data-entity": entity.type });
  }
}

function fill(parent, text, from, to, entities, handlers) {
  let position = from;
  let queue = entities;
  while (queue.length) {
    const [first, ...others] = queue;
    const entity = { ...first, start: Math.max(first.start, position) };
    if (entity.start >= entity.end) { queue = others; continue; }
    if (entity.start > position) parent.append(text.slice(position, entity.start));
    // Entities inside this one nest in it; one that crosses its end is split in two.
    const inner = [];
    const rest = [];
    for (const other of others) {
      if (other.start >= entity.end) rest.push(other);
      else if (other.end <= entity.end) inner.push(other);
      else {
        inner.push({ ...other, end: entity.end });
        rest.push({ ...other, start: entity.end });
      }
    }
    const node = elementFor(entity, text, handlers);
    const target = node.content || node;
    if (LEAF.has(entity.type)) target.append(text.slice(entity.start, entity.end));
    else fill(target, text, entity.start, entity.end, inner, handlers);
    parent.append(node);
    position = entity.end;
    queue = rest.sort(byPosition);
  }
  if (position < to) parent.append(text.slice(position, to));
}

/** A fragment showing `text` formatted by `entities` (Bot API MessageEntity objects). */
export function renderText(text, entities = [], handlers = {}) {
  const fragment = document.createDocumentFragment();
  const length = text.length;
  const usable = (entities || [])
    .filter((e) => Number.isInteger(e.offset) && Number.isInteger(e.length) && e.length > 0)
    .map((e) => ({ ...e, start: Math.min(e.offset, length), end: Math.min(e.offset + e.length, length) }))
    .filter((e) => e.end > e.start)
    .sort(byPosition);
  fill(fragment, text, 0, length, usable, handlers);
  return fragment;
}

/** Minor units -> "€12.50" / "⭐ 120" (Telegram Stars are whole numbers). */
export function formatAmount(amount, currency) {
  if (currency === "XTR") return `⭐ ${amount}`;
  let digits = 2;
  let formatter = null;
  try {
    formatter = new Intl.NumberFormat(undefined, { style: "currency", currency });
    digits = formatter.resolvedOptions().maximumFractionDigits;
  } catch {
    formatter = null;
  }
  const value = amount / 10 ** digits;
  return formatter ? formatter.format(value) : `${value.toFixed(digits)} ${currency}`;
}

/** A one-line preview of a message for the chat list. */
export function preview(message) {
  if (!message) return "";
  if (message.text) return message.text;
  const caption = message.caption ? `: ${message.caption}` : "";
  if (message.photo) return `Photo${caption}`;
  if (message.document) return `File ${message.document.file_name || ""}${caption}`.trim();
  if (message.invoice) return `Invoice: ${message.invoice.title}`;
  if (message.successful_payment) {
    const p = message.successful_payment;
    return `Payment of ${formatAmount(p.total_amount, p.currency)}`;
  }
  if (message.contact) return `Contact: ${message.contact.phone_number}`;
  if (message.location) return "Location";
  return "Message";
}
