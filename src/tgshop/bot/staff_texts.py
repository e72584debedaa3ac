"""The /admin screen: today's figures, the maintenance switch and each payment gateway's
test or live mode (HTML, catalog texts)."""

from __future__ import annotations

from html import escape

from tgshop.bot.staff_callbacks import AdminRefresh, GatewayModeSwitch, MaintenanceSwitch
from tgshop.domain.money import Money
from tgshop.i18n.translator import Translations
from tgshop.services.gateway_modes import GatewayMode
from tgshop.services.ports import InlineButton
from tgshop.services.sales_stats import DayStats, StatusGroup


def _amounts(totals: list[Money]) -> str:
    return escape(" + ".join(str(m) for m in totals), quote=False)


def admin_screen(
    t: Translations,
    shop_name: str,
    stats: DayStats,
    maintenance_on: bool,
    modes: list[GatewayMode] | None = None,
) -> tuple[str, list[list[InlineButton]]]:
    """The text and the buttons of /admin: one switch per gateway that has credentials for
    both modes."""
    lines = [
        t.gettext("staff.admin.title", shop=escape(shop_name), day=stats.day.isoformat()),
        "",
        t.gettext("staff.admin.orders", count=stats.orders),
    ]
    for group in StatusGroup:
        figures = stats.groups[group]
        lines.append(
            t.gettext(
                f"staff.admin.group.{group.value}",
                count=figures.orders,
                amount=_amounts(figures.totals),
            )
        )
    lines += [
        t.gettext("staff.admin.revenue", amount=_amounts(stats.revenue)),
        "",
        t.gettext(
            "staff.admin.maintenance.on" if maintenance_on else "staff.admin.maintenance.off"
        ),
    ]
    switch = InlineButton(
        t.gettext(
            "staff.admin.button.maintenance_off"
            if maintenance_on
            else "staff.admin.button.maintenance_on"
        ),
        MaintenanceSwitch(enabled=not maintenance_on).pack(),
    )
    rows = [[switch]]
    if modes:
        lines += ["", t.gettext("staff.admin.modes")]
    for item in modes or []:
        name = t.gettext(f"staff.admin.gateway.{item.gateway.value}")
        key = "staff.admin.mode_line" if item.switchable else "staff.admin.mode_fixed"
        lines.append(t.gettext(key, gateway=name, mode=t.gettext(f"staff.admin.mode.{item.mode}")))
        if item.switchable:
            other = "live" if item.mode == "test" else "test"
            data = GatewayModeSwitch(gateway=item.gateway.value, mode=other).pack()
            label = t.gettext(f"staff.admin.button.mode_{other}", gateway=name)
            rows.append([InlineButton(label, data)])
    refresh = InlineButton(t.gettext("staff.admin.button.refresh"), AdminRefresh().pack())
    return "\n".join(lines), [*rows, [refresh]]
