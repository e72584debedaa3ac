"""The demo catalog: "Leaf & Bean", a small tea and coffee shop that ``tgshop demo`` loads.

It shows every kind of product — physical goods with tracked stock (plenty, low and sold
out), digital goods with unlimited stock (an e-book, gift cards) and subscriptions (a tea
box, a coffee club) — a subcategory, an inactive variant, Russian titles (unicode search)
and an HTML-hostile title (escaping). Pictures are drawn locally by :mod:`.images`.

Prices are in USD, the default shop currency. The demo does not convert prices: with any
other shop currency :func:`load_demo_catalog` refuses with a :class:`CatalogImportError`
that says so, and writes nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from importlib.resources import files
from pathlib import Path

from tgshop.db.engine import Database
from tgshop.services.catalog_io import CatalogImportError, ImportReport, import_catalog
from tgshop.services.ports import Clock

DEMO_CURRENCY = "USD"
CATALOG_FILE = "catalog.json"
IMAGES_FOLDER = "images"


def demo_catalog_text() -> str:
    """The demo catalog JSON as shipped in the package."""
    return files(__package__).joinpath(CATALOG_FILE).read_text(encoding="utf-8")


def write_demo_files(directory: Path) -> Path:
    """Write the catalog and its pictures into ``directory``; return the catalog's path."""
    from tgshop.demo.images import write_pictures

    directory.mkdir(parents=True, exist_ok=True)
    catalog = directory / CATALOG_FILE
    catalog.write_text(demo_catalog_text(), encoding="utf-8")
    write_pictures(directory / IMAGES_FOLDER)
    return catalog


async def load_demo_catalog(db: Database, *, shop_currency: str, clock: Clock) -> ImportReport:
    """Import the demo catalog. Idempotent: a second run reports every row unchanged.

    Like any import it only creates or updates the demo's own keys and skus; rows the
    merchant added stay. Stock is reset to the demo figures on every run.
    """
    if shop_currency.upper() != DEMO_CURRENCY:
        raise CatalogImportError(
            [
                f"the demo catalog is priced in {DEMO_CURRENCY} but the shop currency is "
                f"{shop_currency.upper()}; set TGSHOP_SHOP_CURRENCY={DEMO_CURRENCY} to load it"
            ]
        )
    with tempfile.TemporaryDirectory(prefix="tgshop-demo-") as tmp:
        catalog = await asyncio.to_thread(write_demo_files, Path(tmp))
        return await import_catalog(db, catalog, shop_currency=DEMO_CURRENCY, clock=clock)
