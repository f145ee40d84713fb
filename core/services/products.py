"""A seller's catalog. Every query is scoped by seller: another seller's id is "not found"."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from core import db
from core.errors import Conflict, NotFound
from core.models import Product
from core.schemas import Pagination, ProductIn, ProductOut, ProductQuery, ProductUpdate, paginate
from core.services import audit

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


async def list_page(seller_id: int, query: ProductQuery) -> tuple[list[Product], Pagination]:
    qs = Product.filter(seller_id=seller_id)
    if query.search:
        qs = qs.filter(Q(name__icontains=query.search) | Q(sku__icontains=query.search))
    if query.category:
        qs = qs.filter(category=query.category)
    total = await qs.count()
    items = (
        await qs.order_by("-id").offset((query.page - 1) * query.limit).limit(query.limit).all()
    )
    return items, paginate(query.page, query.limit, total)


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
