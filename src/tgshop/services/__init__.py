"""Use cases. Each owns its unit of work and states its business rules in its docstring.
The same use case serves the bot, the Mini App, the admin side and the jobs."""
