"""The Mini App API routes (``/api/v1``): thin — parse, call the same use cases as the bot,
render.

- Catalog reads are public and cacheable: a weak ETag over the body (``If-None-Match`` gets
  304) and ``Cache-Control: public`` for as long as the catalog memory keeps a read.
- Everything about a person needs initData (api/v1/auth.py) and is ``private, no-store``.
- Another customer's order is "not found", never "forbidden": its existence is not told.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from tgshop.api.caching import cacheable, weak_etag
from tgshop.api.v1.auth import SIGNED_IN, signed_in
from tgshop.api.v1.schemas import (
    CartOut,
    CartQuantityIn,
    CategoryOut,
    CategoryTree,
    MeOut,
    OrderList,
    OrderOut,
    ProductOut,
    ProductPage,
    ProductSummaryOut,
)
from tgshop.domain.errors import InvalidRequest
from tgshop.domain.money import Money
from tgshop.services.catalog import MAX_PER_PAGE, ProductQuery
from tgshop.services.thumbnails import THUMBNAIL_WIDTHS

if TYPE_CHECKING:
    from tgshop.app import Container

Id = Annotated[int, Path(ge=1, le=2**62)]
PRIVATE = {"Cache-Control": "private, no-store"}
# A stored image never changes under its id (a new picture is a new row), so a day is safe.
IMAGE_MAX_AGE = 86400
Responses = dict[int | str, dict[str, Any]]
M = TypeVar("M", bound=BaseModel)


def _cursor(page: int) -> str:
    return base64.urlsafe_b64encode(f"p{page}".encode()).decode().rstrip("=")


def _page_of(cursor: str | None) -> int:
    """The page an opaque cursor points at (InvalidRequest for one we did not make)."""
    if cursor is None:
        return 1
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("cursor is not one this API gave out") from None
    if not text.startswith("p") or not text[1:].isdigit() or not 1 <= int(text[1:]) <= 10_000:
        raise InvalidRequest("cursor is not one this API gave out")
    return int(text[1:])


def _json_of(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Renderings:
    """Answers rendered from a cached read, kept while the cache hands out that same read
    (the same object): a catalog page served from the catalog memory is not serialized and
    hashed again for every request. Bounded: when full, it starts afresh. Without
    ``etags`` (a private answer nobody revalidates) the tag is empty and never computed."""

    def __init__(self, max_entries: int = 1024, *, etags: bool = True) -> None:
        self._kept: dict[Hashable, tuple[object, bytes, str]] = {}
        self._max_entries = max_entries
        self._etags = etags

    def get(self, key: Hashable, source: object, render: Callable[[], bytes]) -> tuple[bytes, str]:
        kept = self._kept.get(key)
        if kept is not None and kept[0] is source:
            return kept[1], kept[2]
        body = render()
        etag = weak_etag(body) if self._etags else ""
        if len(self._kept) >= self._max_entries:
            self._kept.clear()
        self._kept[key] = (source, body, etag)
        return body, etag


def cached_model(request: Request, model: BaseModel, max_age: float) -> Response:
    """A public catalog answer with a weak ETag; 304 when the client has it already."""
    body = _json_of(model)
    return public_answer(request, body, weak_etag(body), max_age)


def public_answer(
    request: Request, body: bytes, etag: str, max_age: float, media_type: str = "application/json"
) -> Response:
    """A public, cacheable answer; 304 when ``If-None-Match`` names its ETag."""
    return cacheable(request, body, etag, f"public, max-age={int(max_age)}", media_type)


def private(body: BaseModel | list[Any], status_code: int = 200) -> JSONResponse:
    """An answer about one person: never stored by a cache on the way."""
    content = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return JSONResponse(content, status_code=status_code, headers=PRIVATE)


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a model that a route reads from the query string itself."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": spec.get("description", ""),
            "schema": {key: value for key, value in spec.items() if key != "description"},
        }
        for name, spec in schema["properties"].items()
    ]


def read_query(model: type[M], request: Request) -> M:
    """The query string validated by ``model`` in one pass; a refusal is the same 422 the
    framework gives. (FastAPI's own query models re-inspect their fields on every request,
    a sixth of a product-list request.)"""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


class ProductFilters(BaseModel):
    """The filters of the product list (one model: validated in one pass)."""

    q: str | None = Field(
        default=None, max_length=200, pattern=r"^[^\x00-\x1f]*$", description="words in the title"
    )
    category_id: int | None = Field(
        default=None, ge=1, le=2**62, description="and its subcategories"
    )
    min_price: int | None = Field(default=None, ge=0, le=10**12, description="minor units")
    max_price: int | None = Field(default=None, ge=0, le=10**12, description="minor units")
    in_stock: bool = Field(default=False, description="only what can be bought now")
    limit: int = Field(default=20, ge=1, le=MAX_PER_PAGE)
    cursor: str | None = Field(default=None, max_length=40, description="from next_cursor")


def build_api_v1(container: Container) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    max_age = container.settings.shop.catalog_cache_seconds
    rendered = Renderings()
    carts_rendered = Renderings(max_entries=10_000, etags=False)
    not_modified: Responses = {304: {"description": "the client's copy (If-None-Match) is current"}}

    # ------------------------------------------------------------------ the catalog

    @router.get(
        "/categories",
        tags=["catalog"],
        response_model=CategoryTree,
        responses=not_modified,
        summary="The category tree",
    )
    async def categories(request: Request) -> Response:
        tree = await container.catalog.categories_tree()
        body, etag = rendered.get(
            "tree",
            tree,
            lambda: _json_of(CategoryTree(items=[CategoryOut.of(n) for n in tree])),
        )
        return public_answer(request, body, etag, max_age)

    @router.get(
        "/products",
        tags=["catalog"],
        response_model=ProductPage,
        responses={**not_modified, 422: {"description": "a filter is out of range"}},
        summary="Products, filtered, a page at a time",
        openapi_extra={"parameters": query_parameters(ProductFilters)},
    )
    async def products(request: Request) -> Response:
        filters = read_query(ProductFilters, request)
        query = ProductQuery(
            search=filters.q,
            category_id=filters.category_id,
            min_price=filters.min_price,
            max_price=filters.max_price,
            in_stock=filters.in_stock,
            page=_page_of(filters.cursor),
            per_page=filters.limit,
        )
        page = await container.catalog.list_products(query)

        def render() -> bytes:
            more = page.page < page.pages and bool(page.items)
            return _json(
                {
                    "items": [ProductSummaryOut.plain(item) for item in page.items],
                    "total": page.total,
                    "next_cursor": _cursor(page.page + 1) if more else None,
                }
            )

        body, etag = rendered.get(("page", query), page, render)
        return public_answer(request, body, etag, max_age)

    @router.get(
        "/products/{product_id}",
        tags=["catalog"],
        response_model=ProductOut,
        responses={**not_modified, 404: {"description": "no such product on sale"}},
        summary="One product with its variants and images",
    )
    async def product(request: Request, product_id: Id) -> Response:
        detail = await container.catalog.product_detail(product_id)
        body, etag = rendered.get(
            ("product", product_id),
            detail,
            lambda: _json_of(ProductOut.of(detail)),
        )
        return public_answer(request, body, etag, max_age)

    @router.get(
        "/media/{media_id}",
        tags=["catalog"],
        responses={200: {"content": {"image/*": {}}}, 404: {"description": "no such image"}},
        summary="A product image, or a thumbnail of it (`w`)",
    )
    async def media(
        request: Request,
        media_id: Id,
        w: Annotated[
            int | None,
            Query(
                ge=1,
                le=10_000,
                description=(
                    "at most this wide: served at the next of "
                    f"{', '.join(map(str, THUMBNAIL_WIDTHS))} up, never enlarged"
                ),
            ),
        ] = None,
    ) -> Response:
        if w is None:
            mime, data = await container.catalog.media(media_id)
            return public_answer(request, data, weak_etag(data), IMAGE_MAX_AGE, mime)
        picture = await container.thumbnails.get(media_id, w)
        body, etag = rendered.get(("thumbnail", media_id, w), picture, lambda: picture.data)
        return public_answer(request, body, etag, IMAGE_MAX_AGE, picture.mime)

    # ------------------------------------------------------------------ the customer

    unauthorized: Responses = {401: {"description": "no valid initData (see `reason`)"}}

    @router.get(
        "/me",
        tags=["me"],
        response_model=MeOut,
        openapi_extra=SIGNED_IN,
        responses=unauthorized,
        summary="Me: my profile, language and balance",
    )
    async def me(request: Request) -> JSONResponse:
        caller = await signed_in(request)
        balance: Money = await container.payments.balance(caller.customer.id)
        return private(MeOut.of(caller.customer, balance))

    @router.get(
        "/cart",
        tags=["cart"],
        response_model=CartOut,
        openapi_extra=SIGNED_IN,
        responses=unauthorized,
        summary="My cart (the same cart as in the bot)",
    )
    async def cart(request: Request) -> Response:
        caller = await signed_in(request)
        view = await container.carts.view(caller.customer.id)
        # A cart served from the cart memory is the same object until it changes.
        body, _ = carts_rendered.get(view.user_id, view, lambda: _json_of(CartOut.of(view)))
        return Response(body, media_type="application/json", headers=PRIVATE)

    @router.put(
        "/cart/items/{variant_id}",
        tags=["cart"],
        response_model=CartOut,
        openapi_extra=SIGNED_IN,
        responses={**unauthorized, 404: {"description": "no such variant on sale"}},
        summary="Set how many of a variant the cart holds (0 takes it out)",
    )
    async def set_quantity(request: Request, variant_id: Id, body: CartQuantityIn) -> JSONResponse:
        caller = await signed_in(request)
        view = await container.carts.set_quantity(caller.customer.id, variant_id, body.quantity)
        return private(CartOut.of(view))

    @router.delete(
        "/cart/items/{variant_id}",
        tags=["cart"],
        response_model=CartOut,
        openapi_extra=SIGNED_IN,
        responses=unauthorized,
        summary="Take a variant out of the cart",
    )
    async def remove(request: Request, variant_id: Id) -> JSONResponse:
        caller = await signed_in(request)
        return private(CartOut.of(await container.carts.remove(caller.customer.id, variant_id)))

    @router.get(
        "/orders",
        tags=["orders"],
        response_model=OrderList,
        openapi_extra=SIGNED_IN,
        responses=unauthorized,
        summary="My orders, newest first",
    )
    async def orders(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> JSONResponse:
        caller = await signed_in(request)
        found = await container.orders.list_for_user(
            caller.customer.id, limit=limit + 1, offset=offset
        )
        body = OrderList(
            items=[OrderOut.of(order) for order in found[:limit]],
            next_offset=offset + limit if len(found) > limit else None,
        )
        return private(body)

    @router.get(
        "/orders/{order_id}",
        tags=["orders"],
        response_model=OrderOut,
        openapi_extra=SIGNED_IN,
        responses={**unauthorized, 404: {"description": "no such order of yours"}},
        summary="One of my orders with its history",
    )
    async def order(request: Request, order_id: Id) -> JSONResponse:
        caller = await signed_in(request)
        view = await container.orders.get(order_id, user_id=caller.customer.id)
        return private(OrderOut.of(view))

    return router
