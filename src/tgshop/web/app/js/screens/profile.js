// Me: who the shop thinks I am, my language and my balance (topped up in the bot).

import { h } from "../dom.js";
import { t } from "../texts.js";

export async function render(shop, _params, isCurrent) {
  if (!shop.requireSignIn()) return;
  const me = await shop.api.me();
  if (!isCurrent()) return;
  const name = [me.first_name, me.last_name].filter(Boolean).join(" ");
  shop.main.replaceChildren(h("section", { class: "profile" },
    h("h1", {}, name),
    h("dl", { class: "details" },
      me.username ? [h("dt", {}, t("app.profile.username")), h("dd", {}, `@${me.username}`)] : null,
      h("dt", {}, t("app.profile.language")), h("dd", {}, t(`app.language.${me.language}`)),
      h("dt", {}, t("app.profile.balance")), h("dd", { id: "balance" }, me.balance.display)),
    h("p", { class: "hint" }, t("app.profile.top_up_hint")),
    h("a", { class: "button secondary", href: "#/orders" }, t("app.nav.orders"))));
}
