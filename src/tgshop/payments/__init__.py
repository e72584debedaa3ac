"""Adapters for external payment providers, one per provider, behind the
:class:`~tgshop.services.ports.PaymentProvider` port. Telegram Stars and cards through
Telegram Payments need none: the bot sends their invoices and Telegram reports the money."""
