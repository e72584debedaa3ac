"""Background work: the outbox worker, its job handlers and the Telegram sender.

Import the submodules directly (``tgshop.jobs.worker``, ``tgshop.jobs.handlers``); this
package imports nothing so that importing one piece does not pull in the others.
"""
