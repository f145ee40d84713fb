"""A seller's catalog. Every query is scoped by seller: another seller's id is "not found"."""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import TypeAdapter
from tortoise.exceptions import IntegrityError

from core import db
from core.errors import Conflict, NotFound
from core.models import Product
from core.schemas import Pagination, ProductIn, ProductOut, ProductQuery, ProductUpdate, paginate
from core.services import audit
from core.validation import validate

_FIELD_MAP = {"stock_quantity": "stock"}


def to_out(product: Product) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=product.price,
        stock_quantity=product.stock,
        category=product.category,
        photos=list(product.photos or []),
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


async def create(seller_id: int, data: ProductIn) -> Product:
    try:
        async with db.atomic() as conn:
            product = await Product.create(
                seller_id=seller_id,
                sku=data.sku,
                name=data.name,
                description=data.description,
                price=data.price,
                stock=data.stock_quantity,
                category=data.category,
                photos=data.photos,
                using_db=conn,
            )
            await audit.record(
                "product.created",
                actor=f"seller:{seller_id}",
                object_type="product",
                object_id=product.id,
                seller_id=seller_id,
                using_db=conn,
            )
    except IntegrityError:
        raise Conflict("a product with this SKU already exists", field="sku") from None
    return product


async def get(seller_id: int, product_id: int) -> Product:
    product = await Product.get_or_none(id=product_id, seller_id=seller_id)
    if product is None:
        raise NotFound("product not found")
    return product


# The list is the hot path of the REST API (bench/api.py): one statement, written once per
# filter combination, brings the page and the total (a window count), its columns named as
# the API writes them, so that the rows are the answer (the database's own values need no
# second validation) and the bot reads the same rows as ProductOut. Search is
# case-insensitive in every script (`casefold` is the Python function the SQLite connection
# registers; PostgreSQL's LOWER knows Unicode).
_LIST_COLUMNS = ", ".join(
    f'"{column}" AS "{name}"'
    for column, name in (
        ("id", "id"),
        ("sku", "sku"),
        ("name", "name"),
        ("description", "description"),
        ("price", "price"),
        ("stock", "stockQuantity"),
        ("category", "category"),
        ("photos", "photos"),
        ("created_at", "createdAt"),
        ("updated_at", "updatedAt"),
    )
)
_PRODUCTS: TypeAdapter[list[ProductOut]] = TypeAdapter(list[ProductOut])
_LIKE_ESCAPE = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


def _where(seller_id: int, query: ProductQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = ['"seller_id" = ?']
    params: list[Any] = [seller_id]
    if query.search:
        postgres = db.is_postgres()
        fold = "LOWER" if postgres else "casefold"
        needle = query.search.lower() if postgres else query.search.casefold()
        pattern = f"%{needle.translate(_LIKE_ESCAPE)}%"
        clauses.append(
            f"({fold}(\"name\") LIKE ? ESCAPE '\\' OR {fold}(\"sku\") LIKE ? ESCAPE '\\')"
        )
        params += [pattern, pattern]
    if query.category:
        clauses.append('"category" = ?')
        params.append(query.category)
    return " AND ".join(clauses), params


@functools.lru_cache(maxsize=4096)
def _photo_list(text: str) -> tuple[str, ...]:
    """A photos column (JSON text) as a tuple: most products share `[]`, and a page of a
    catalog is read again and again, so each text is parsed once."""
    return tuple(json.loads(text))


async def list_rows(
    seller_id: int, query: ProductQuery
) -> tuple[list[dict[str, Any]], Pagination]:
    """A page of the seller's products, newest first, with search (name or SKU) and a
    category filter: each row a ProductOut as JSON writes it (camelCase keys)."""
    where, params = _where(seller_id, query)
    offset = (query.page - 1) * query.limit
    conn = db.connection()
    rows = await conn.execute_query_dict(
        db.sql(
            f'SELECT {_LIST_COLUMNS}, COUNT(*) OVER () AS "total" FROM "products" '
            f'WHERE {where} ORDER BY "id" DESC LIMIT ? OFFSET ?'
        ),
        [*params, query.limit, offset],
    )
    if rows:
        total = int(rows[0]["total"])
    elif offset == 0:
        total = 0
    else:  # past the last page: the window count came back with no row
        counted = await conn.execute_query_dict(
            db.sql(f'SELECT COUNT(*) AS "total" FROM "products" WHERE {where}'), params
        )
        total = int(counted[0]["total"])
    for row in rows:
        del row["total"]
        if isinstance(photos := row["photos"], str):
            row["photos"] = _photo_list(photos)
    return rows, paginate(query.page, query.limit, total)


async def list_page(seller_id: int, query: ProductQuery) -> tuple[list[ProductOut], Pagination]:
    """`list_rows` as models (the bot's list)."""
    rows, pagination = await list_rows(seller_id, query)
    return _PRODUCTS.validate_python(rows), pagination


async def update(seller_id: int, product_id: int, data: ProductUpdate) -> Product:
    changes = {
        _FIELD_MAP.get(name, name): value
        for name, value in data.model_dump(exclude_unset=True).items()
        if value is not None
    }
    try:
        async with db.atomic() as conn:
            product = (
                await Product.filter(id=product_id, seller_id=seller_id)
                .using_db(conn)
                .select_for_update()
                .first()
            )
            if product is None:
                raise NotFound("product not found")
            if changes:
                product.update_from_dict(changes)
                await product.save(using_db=conn)
                await audit.record(
                    "product.updated",
                    actor=f"seller:{seller_id}",
                    object_type="product",
                    object_id=product.id,
                    seller_id=seller_id,
                    using_db=conn,
                    fields=sorted(changes),
                )
    except IntegrityError:
        raise Conflict("a product with this SKU already exists", field="sku") from None
    return product


async def delete(seller_id: int, product_id: int) -> None:
    async with db.atomic() as conn:
        deleted = await Product.filter(id=product_id, seller_id=seller_id).using_db(conn).delete()
        if not deleted:
            raise NotFound("product not found")
        await audit.record(
            "product.deleted",
            actor=f"seller:{seller_id}",
            object_type="product",
            object_id=product_id,
            seller_id=seller_id,
            using_db=conn,
        )


async def categories(seller_id: int) -> list[str]:
    rows = (
        await Product.filter(seller_id=seller_id)
        .exclude(category="")
        .distinct()
        .order_by("category")
        .values_list("category", flat=True)
    )
    return [str(row) for row in rows]


# --- one field at a time (the bot's step-by-step flows) -------------------------------------

# A photo sent to the bot is kept as its Telegram file id under this prefix; other photo
# references (URLs given through the REST API) are stored as they came.
TELEGRAM_PHOTO = "tg:"


def telegram_photo(file_id: str) -> str:
    return TELEGRAM_PHOTO + file_id


def showable_photo(product: Product) -> str | None:
    """The first photo Telegram can show: a file id of ours or an http(s) URL."""
    for ref in product.photos or []:
        ref = str(ref)
        if ref.startswith(TELEGRAM_PHOTO):
            return ref.removeprefix(TELEGRAM_PHOTO)
        if ref.startswith(("https://", "http://")):
            return ref
    return None


def check_field(name: str, value: object) -> Any:
    """One product field checked with the REST rules; `ValidationFailed` names it."""
    return getattr(validate(ProductUpdate, {name: value}), name)


async def check_new_sku(seller_id: int, sku: str) -> str:
    """A well-formed SKU that this seller does not use yet (`Conflict` when taken)."""
    sku = check_field("sku", sku)
    if await Product.exists(seller_id=seller_id, sku=sku):
        raise Conflict("a product with this SKU already exists", field="sku")
    return str(sku)


async def update_field(seller_id: int, product_id: int, name: str, value: object) -> Product:
    """Change one field (`price`, `stock_quantity`, ...), validated as over REST."""
    return await update(seller_id, product_id, validate(ProductUpdate, {name: value}))


async def add_photo(seller_id: int, product_id: int, photo: str) -> Product:
    """Append a photo reference; the REST limit on the number of photos applies."""
    async with db.atomic() as conn:
        product = (
            await Product.filter(id=product_id, seller_id=seller_id)
            .using_db(conn)
            .select_for_update()
            .first()
        )
        if product is None:
            raise NotFound("product not found")
        product.photos = check_field("photos", [*(product.photos or []), photo])
        await product.save(update_fields=["photos", "updated_at"], using_db=conn)
        await audit.record(
            "product.updated",
            actor=f"seller:{seller_id}",
            object_type="product",
            object_id=product.id,
            seller_id=seller_id,
            using_db=conn,
            fields=["photos"],
        )
    return product
