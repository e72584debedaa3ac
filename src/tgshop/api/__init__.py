"""The HTTP side: the app factory (:mod:`tgshop.api.app`), health and metrics endpoints,
problem+json errors and the middleware every request passes through. Routers call use
cases from :mod:`tgshop.services`; they never talk to the database themselves."""
