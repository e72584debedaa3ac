"""The `tgshop` command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tgshop import __version__

if TYPE_CHECKING:
    from tgshop.config import Settings

app = typer.Typer(
    help="tgshop: a self-hosted commerce engine for Telegram.",
    no_args_is_help=True,
    add_completion=False,
)
catalog_app = typer.Typer(help="Import and export the catalog (JSON).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
webhook_app = typer.Typer(
    help="Register, inspect or remove the Telegram webhook.", no_args_is_help=True
)
app.add_typer(webhook_app, name="webhook")
DropPending = Annotated[bool, typer.Option("--drop-pending", help="also drop queued updates")]

Host = Annotated[str, typer.Option(help="interface to listen on")]
Port = Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)]
DEMO_DATABASE_URL = "sqlite+aiosqlite:///./var/demo.db"


def _run_server(main: Coroutine[Any, Any, int]) -> int:
    """Run a long-lived command on uvloop when it is installed (faster I/O), else asyncio."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tgshop {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """tgshop: a self-hosted commerce engine for Telegram."""


def _settings_or_exit() -> Settings:
    from tgshop.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        typer.secho("Configuration problems:", fg="red", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from None


@app.command()
def check(
    offline: Annotated[
        bool, typer.Option(help="check variables only, not the database/Redis")
    ] = False,
) -> None:
    """Validate the configuration, the database and Redis; list every problem."""
    from tgshop.checks import collect_problems

    settings, problems = asyncio.run(collect_problems(with_services=not offline))
    if problems:
        typer.secho(f"{len(problems)} problem(s):", fg="red", err=True)
        for problem in problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1)
    assert settings is not None
    typer.secho(
        f"OK: configuration valid ({settings.app.env.value}), database reachable and migrated.",
        fg="green",
    )


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema."""
    from tgshop.runtime import run_migrations

    settings = _settings_or_exit()
    revision = asyncio.run(run_migrations(settings))
    typer.echo(f"database at revision {revision}")


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    worker: Annotated[bool, typer.Option(help="run the outbox worker in this process")] = True,
    migrate: Annotated[bool, typer.Option(help="upgrade the database before starting")] = True,
    polling: Annotated[
        bool, typer.Option(help="get updates by long polling instead of a webhook (behind NAT)")
    ] = False,
) -> None:
    """Run the HTTP service (webhooks, API, health, metrics) and, by default, the worker."""
    from tgshop.runtime import ServeOptions
    from tgshop.runtime import serve as run

    settings = _settings_or_exit()
    sys.exit(_run_server(run(settings, ServeOptions(host, port, worker, migrate, polling))))


@app.command("worker")
def worker_command(
    migrate: Annotated[bool, typer.Option(help="upgrade the database before starting")] = False,
) -> None:
    """Run only the outbox worker (scale out with several)."""
    from tgshop.runtime import run_worker

    settings = _settings_or_exit()
    sys.exit(_run_server(run_worker(settings, migrate=migrate)))


@app.command()
def demo(
    host: Host = "127.0.0.1",
    port: Port = 8080,
) -> None:
    """Run the shop offline with the demo catalog, in its own SQLite file ./var/demo.db.

    The demo never touches TGSHOP_DATABASE_URL: loading a demo catalog into a real shop's
    database would overwrite its products.
    """
    from tgshop.config import ConfigError, load_settings
    from tgshop.runtime import ServeOptions
    from tgshop.runtime import demo as run

    try:
        settings = load_settings(app={"env": "development"}, database={"url": DEMO_DATABASE_URL})
    except ConfigError as exc:
        typer.secho("Configuration problems:", fg="red", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from None
    sys.exit(_run_server(run(settings, ServeOptions(host, port, True, True))))


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="catalog JSON file (see docs/catalog-format.md)",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
) -> None:
    """Create or update categories and products from a JSON file; all or nothing."""
    from tgshop.runtime import import_catalog
    from tgshop.services.catalog_io import CatalogImportError

    settings = _settings_or_exit()
    try:
        report = asyncio.run(import_catalog(settings, file))
    except CatalogImportError as exc:
        typer.secho(
            f"Nothing was imported: {len(exc.errors)} problem(s) in {file}:", fg="red", err=True
        )
        for error in exc.errors:
            typer.echo(f"  - {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(report))


@catalog_app.command("export")
def catalog_export(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", dir_okay=False, help="write the JSON here (images beside it)"
        ),
    ] = None,
) -> None:
    """Write the catalog as JSON that re-imports to the same catalog."""
    from tgshop.runtime import export_catalog

    settings = _settings_or_exit()
    text = asyncio.run(export_catalog(settings, output))
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        typer.echo(text, err=True)


def _webhook(action: str, drop_pending: bool = False) -> None:
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    from tgshop.runtime import webhook_command

    settings = _settings_or_exit()
    try:
        typer.echo(asyncio.run(webhook_command(settings, action, drop_pending=drop_pending)))
    except ValueError as exc:
        typer.secho(f"Cannot {action} the webhook: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    except (TelegramAPIError, TelegramNetworkError) as exc:
        typer.secho(f"Telegram refused: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


@webhook_app.command("set")
def webhook_set(drop_pending: DropPending = False) -> None:
    """Register TGSHOP_PUBLIC_URL/telegram/webhook with the secret and used update types."""
    _webhook("set", drop_pending)


@webhook_app.command("info")
def webhook_info() -> None:
    """Show what Telegram knows: URL, pending updates, last error."""
    _webhook("info")


@webhook_app.command("delete")
def webhook_delete(drop_pending: DropPending = False) -> None:
    """Remove the webhook (e.g. before polling)."""
    _webhook("delete", drop_pending)


def main() -> None:
    app()
