"""A seller's customers, keyed by normalised phone or by Telegram chat."""

from __future__ import annotations

from typing import Any

from core.models import Customer
from core.phones import normalise_phone


async def upsert_by_phone(
    seller_id: int, phone: str, name: str = "", *, using_db: Any = None
) -> Customer:
    """The seller's customer with this phone, created on first sight."""
    normalised = normalise_phone(phone, "customerPhone")
    existing = Customer.filter(seller_id=seller_id, phone=normalised).using_db(using_db)
    customer = await existing.first()
    if customer is None:
        # Two first orders of one customer may race: the unique (seller, phone) keeps one
        # row, the loser's insert does nothing and it reads the winner's row.
        await Customer.bulk_create(
            [Customer(seller_id=seller_id, phone=normalised, name=name)],
            ignore_conflicts=True,
            using_db=using_db,
        )
        customer = await existing.get()
    if name and name != customer.name:
        customer.name = name
        await customer.save(update_fields=["name", "updated_at"], using_db=using_db)
    return customer


async def get(seller_id: int, customer_id: int) -> Customer | None:
    return await Customer.get_or_none(id=customer_id, seller_id=seller_id)
