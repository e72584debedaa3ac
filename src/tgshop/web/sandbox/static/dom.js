// Small DOM helpers shared by the page's modules. Text always goes in as text nodes.

/**
 * Create an element: h("a", {href: url, class: "btn"}, "label", child).
 * Attributes starting with "on" are event listeners; `false`/`null` attributes are skipped;
 * `hidden: true` and boolean attributes are set as properties.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

const TOAST_MS = 3500;

/** A short note at the bottom of the screen (polite for info, assertive for errors). */
export function toast(text, kind = "info") {
  const region = document.getElementById(kind === "error" ? "alerts" : "toasts");
  const item = h("div", { class: `toast toast-${kind}` }, text);
  region.append(item);
  setTimeout(() => item.classList.add("toast-leaving"), TOAST_MS);
  setTimeout(() => item.remove(), TOAST_MS + 400);
}

/** A modal alert, as Telegram shows a callback answer with show_alert. Resolves on close. */
export function alertDialog(text, title = "") {
  const dialog = document.getElementById("alert-dialog");
  dialog.querySelector(".alert-title").textContent = title;
  dialog.querySelector(".alert-text").textContent = text;
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
}

export function initials(name) {
  const letters = (name || "?")
    .split(/\s+/)
    .filter((part) => /\p{L}|\p{N}/u.test(part))
    .slice(0, 2)
    .map((part) => [...part][0].toUpperCase());
  return letters.join("") || "?";
}

/** A stable colour class (avatar-0..6) for an id, like Telegram's peer colours. */
export function avatar(name, id, extra = "") {
  const index = Math.abs(Number(id) || 0) % 7;
  return h("span", { class: `avatar avatar-${index} ${extra}`, "aria-hidden": "true" }, initials(name));
}

export function clock(unixSeconds) {
  if (!unixSeconds) return "";
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

const SVG = "http://www.w3.org/2000/svg";
// Line icons (24×24, stroked with currentColor): no icon font, no emoji font needed.
const ICONS = {
  plus: ["M12 5v14", "M5 12h14"],
  clip: ["M20.5 11.5l-8.4 8.4a5 5 0 0 1-7.1-7.1l8.4-8.4a3.3 3.3 0 0 1 4.7 4.7l-8.4 8.4a1.7 1.7 0 0 1-2.4-2.4l7.7-7.7"],
  keyboard: ["M4 6h16a1.5 1.5 0 0 1 1.5 1.5v9A1.5 1.5 0 0 1 20 18H4a1.5 1.5 0 0 1-1.5-1.5v-9A1.5 1.5 0 0 1 4 6z",
    "M6.5 10h.01", "M10 10h.01", "M13.5 10h.01", "M17 10h.01", "M7.5 14h9"],
  send: ["M4 12L20 4l-4.5 16-3.5-6.5z", "M12 13.5L20 4"],
  back: ["M19 12H5", "M11 18l-6-6 6-6"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  phone: ["M5 4h3.5l1.5 4.5-2 1.2a11 11 0 0 0 6.3 6.3l1.2-2 4.5 1.5V19a1.5 1.5 0 0 1-1.5 1.5A16.5 16.5 0 0 1 3.5 5.5 1.5 1.5 0 0 1 5 4z"],
  pin: ["M12 21s-6.5-5.6-6.5-11a6.5 6.5 0 0 1 13 0c0 5.4-6.5 11-6.5 11z", "M12 12.2a2.2 2.2 0 1 0 0-4.4 2.2 2.2 0 0 0 0 4.4z"],
  image: ["M4.5 4.5h15a1 1 0 0 1 1 1v13a1 1 0 0 1-1 1h-15a1 1 0 0 1-1-1v-13a1 1 0 0 1 1-1z",
    "M3.5 16l5-5 4 4 3-3 5 5", "M15.5 9.2a1.2 1.2 0 1 0 0-2.4 1.2 1.2 0 0 0 0 2.4z"],
  file: ["M14 3H6.5A1.5 1.5 0 0 0 5 4.5v15A1.5 1.5 0 0 0 6.5 21h11a1.5 1.5 0 0 0 1.5-1.5V8z", "M14 3v5h5"],
  app: ["M8 3.5h8a1.5 1.5 0 0 1 1.5 1.5v14a1.5 1.5 0 0 1-1.5 1.5H8A1.5 1.5 0 0 1 6.5 19V5A1.5 1.5 0 0 1 8 3.5z", "M11 17.5h2"],
  external: ["M14 4h6v6", "M20 4l-9 9", "M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5"],
};

/** An inline SVG icon, hidden from assistive technology (give the button a text label). */
export function icon(name, extra = "") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon ${extra}`.trim());
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** Replace every <span data-icon="name"> under `root` with its icon. */
export function fillIcons(root) {
  for (const slot of root.querySelectorAll("[data-icon]")) slot.replaceWith(icon(slot.dataset.icon));
}
