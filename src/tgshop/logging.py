"""Structured logging: one pipeline for structlog and the standard library.

Every log line — ours, uvicorn's, SQLAlchemy's, aiogram's — goes through the same
processors: context variables (the request id), level, logger name, exception formatting,
secret redaction, an ISO UTC timestamp, then a renderer: JSON in production (or when
``TGSHOP_LOG_FORMAT=json``), a readable console format in development. structlog loggers
write straight to the stream; stdlib records reach it through a handler on the root logger
that runs the same processors.

Rule: secrets never reach a log line. :func:`redact_secrets` masks the value of any key that
names a credential (token, secret, password, authorization, cookie ...) at any depth, and
masks Telegram bot tokens and URL passwords wherever they appear in text — messages and
tracebacks included (an HTTP error from the Bot API carries the token in its URL).

Call :func:`configure_logging` once per process, before the server starts; it replaces only
the handler it installed itself, so calling it again (tests) is safe.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from tgshop.config import AppSettings

REDACTED = "[REDACTED]"
_HANDLER_NAME = "tgshop"

# Key names (case-insensitive substrings) whose values are credentials.
_SENSITIVE_KEY = re.compile(
    r"token|secret|passw|pwd|authorization|api[_-]?key|cookie|credential|private[_-]?key"
    r"|init[_-]?data|signature|dsn",
    re.IGNORECASE,
)
# A Telegram bot token: "<bot id>:<35-ish url-safe characters>". The bot id stays readable.
_BOT_TOKEN = re.compile(r"(\d+):[A-Za-z0-9_-]{30,}")
# The password of a URL such as postgresql://user:password@host/db.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):[^@/?#\s]+@")
# Libraries whose own handlers would bypass our pipeline (uvicorn installs some).
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiogram", "sqlalchemy")


@lru_cache(maxsize=1024)
def _is_sensitive_key(key: str) -> bool:
    return _SENSITIVE_KEY.search(key) is not None


def redact_text(text: str) -> str:
    """Mask bot tokens and URL passwords inside free text."""
    if ":" not in text:  # both patterns need a colon; skip the regexes on most strings
        return text
    text = _BOT_TOKEN.sub(rf"\1:{REDACTED}", text)
    return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


# Values that cannot hold a secret; compared by exact type, the cheapest test there is.
_PLAIN = frozenset({int, float, bool, type(None)})


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and _is_sensitive_key(key) else _redact_value(v)
            for key, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item) for item in value]
    # Renderers fall back to repr() for other objects; scan what they would print.
    return redact_text(repr(value))


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask credentials by key name and by shape, at any depth."""
    for key, value in event_dict.items():
        if _is_sensitive_key(key):
            event_dict[key] = REDACTED
        else:  # the common kinds inline: this runs for every value of every line
            kind = type(value)
            if kind is str:
                if ":" in value:
                    event_dict[key] = redact_text(value)
            elif kind not in _PLAIN:
                event_dict[key] = _redact_value(value)
    return event_dict


def _json_line(event: Any, **kwargs: Any) -> str:
    """orjson for structlog's JSONRenderer (an access line per request makes json.dumps a
    tenth of a cached API answer); json.dumps for what orjson refuses (an int beyond 64 bits)."""
    try:
        return orjson.dumps(
            event, default=kwargs.get("default"), option=orjson.OPT_NON_STR_KEYS
        ).decode()
    except orjson.JSONEncodeError:
        return json.dumps(event, **kwargs)


def _wants_json(settings: AppSettings) -> bool:
    if settings.log_format == "json":
        return True
    return settings.log_format == "auto" and settings.is_production


def _shared_processors() -> list[Processor]:
    """What every record gets before formatting, ours and the standard library's."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.StackInfoRenderer(),
    ]


class _LineWriter:
    """The sink of structlog loggers: whole lines to the handler's stream under the
    handler's lock, so they never interleave with stdlib records. It has a ``name`` for
    ``add_logger_name``."""

    def __init__(self, handler: logging.StreamHandler[TextIO], name: str) -> None:
        self._handler = handler
        self.name = name

    def msg(self, message: str) -> None:
        with self._handler.lock:  # type: ignore[union-attr]  # StreamHandler creates it
            self._handler.stream.write(message + "\n")
            self._handler.stream.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(settings: AppSettings, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one redacting pipeline to ``stream``
    (stderr by default) at ``settings.log_level``."""
    stream = stream if stream is not None else sys.stderr
    renderer: Processor
    if _wants_json(settings):
        renderer = structlog.processors.JSONRenderer(serializer=_json_line)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    # Tracebacks become text before redaction so a token inside an exception is masked too;
    # the timestamp comes after it (nothing to redact there, and it is on every line).
    tail: list[Processor] = [
        structlog.processors.format_exc_info,
        redact_secrets,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        renderer,
    ]

    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    _remove_our_handler(root)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
    # Our middleware writes one access line per request; uvicorn's would be a duplicate.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # SQL statements are for debugging sessions (TGSHOP_DATABASE_ECHO), not for every log.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

    # structlog loggers skip the stdlib machinery (two LogRecords and a findCaller per
    # line): more than twice as fast, which matters for an access line per request.
    writers: dict[str, _LineWriter] = {}

    def writer_for(*args: Any) -> _LineWriter:
        name = str(args[0]) if args else ""
        if name not in writers:
            writers[name] = _LineWriter(handler, name)
        return writers[name]

    structlog.configure(
        processors=[*_shared_processors(), *tail],
        wrapper_class=structlog.make_filtering_bound_logger(settings.log_level),
        logger_factory=writer_for,
        # Not cached: a module-level logger used before this call must still follow it.
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Undo :func:`configure_logging` (tests)."""
    _remove_our_handler(logging.getLogger())
    structlog.reset_defaults()


def _remove_our_handler(root: logging.Logger) -> None:
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
            existing.close()
