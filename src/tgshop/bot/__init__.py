"""The customer bot (aiogram 3): routers per feature, middlewares, keyboards. Handlers parse,
call a use case and render; business rules live in services/."""
