"""tgshop: a self-hosted commerce engine for Telegram."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tgshop")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
