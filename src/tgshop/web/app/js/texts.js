// The page's words, from the shop's message catalogs (/app/texts/<lang>.json): the same
// English and Russian the bot speaks. A missing key shows as the key, never as nothing.

let words = {};

export async function loadTexts(lang) {
  try {
    const response = await fetch(`/app/texts/${encodeURIComponent(lang || "en")}.json`);
    if (response.ok) words = await response.json();
  } catch {
    words = {};
  }
}

export function has(key) {
  return Object.prototype.hasOwnProperty.call(words, key);
}

/** t("app.cart.total", {total: "9.90 USD"}) */
export function t(key, params = {}) {
  const text = words[key] || key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Fill every [data-text] element of the static shell. */
export function translateShell() {
  for (const node of document.querySelectorAll("[data-text]")) node.textContent = t(node.dataset.text);
  for (const node of document.querySelectorAll("[data-label]")) node.setAttribute("aria-label", t(node.dataset.label));
}
