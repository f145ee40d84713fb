"""Pydantic models at the edge of the core: what a client may send and what it gets back.

Field names are snake_case in Python and camelCase on the wire (`stockQuantity`,
`totalAmount`, `trackingNumber`), as the seed documents them. Input models forbid unknown
fields, so `plan`, `isAdmin`, `sellerId` and the like can never be set through a body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from core.models.base import Language, OrderStatus

MAX_PRICE = 10_000_000_000  # 10 billion UZS: far above any single product
MAX_QUANTITY = 100_000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
Sku = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$")
]
Category = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Stock = Annotated[int, Field(ge=0, le=10_000_000)]
PhotoRef = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=False
    )


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# --- accounts -------------------------------------------------------------------------------


class RegisterIn(ApiModel):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{3,32}$")
    ]
    password: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    full_name: ShortText = ""
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    language: Language | None = None
    referral_code: Annotated[str, StringConstraints(max_length=16)] | None = None
    campaign: Annotated[str, StringConstraints(max_length=64)] | None = None


class LoginIn(ApiModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ChangePasswordIn(ApiModel):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    new_password: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    logout_other_sessions: bool = True


class SellerOut(Out):
    id: int
    username: str
    full_name: str
    phone: str | None
    telegram_linked: bool
    language: str
    plan: str
    plan_expires_at: datetime | None
    referral_code: str
    created_at: datetime


class UserOut(SellerOut):
    telegram_link_code: str | None = None


# --- catalog --------------------------------------------------------------------------------


class ProductIn(ApiModel):
    name: Name
    sku: Sku
    price: Price
    stock_quantity: Stock = 0
    category: Category = ""
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    photos: Annotated[list[PhotoRef], Field(max_length=10)] = []


class ProductUpdate(ApiModel):
    name: Name | None = None
    sku: Sku | None = None
    price: Price | None = None
    stock_quantity: Stock | None = None
    category: Category | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    photos: Annotated[list[PhotoRef], Field(max_length=10)] | None = None


class ProductOut(Out):
    id: int
    sku: str
    name: str
    description: str
    price: int
    stock_quantity: int
    category: str
    photos: list[str]
    created_at: datetime
    updated_at: datetime


class ProductQuery(ApiModel):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    category: Category = ""


# --- orders ---------------------------------------------------------------------------------


class CatalogLine(ApiModel):
    product_id: Annotated[int, Field(ge=1)]
    quantity: Quantity


class FreeLine(ApiModel):
    name: Name
    quantity: Quantity
    price: Price


OrderLine = CatalogLine | FreeLine


class OrderIn(ApiModel):
    customer_name: ShortText = ""
    customer_phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    delivery_address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    total_amount: Annotated[int, Field(ge=0)] | None = None


class OrderStatusIn(ApiModel):
    status: OrderStatus
    tracking_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
        | None
    ) = None
    note: Annotated[str, StringConstraints(max_length=255)] = ""


class OrderQuery(ApiModel):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    status: OrderStatus | None = None


class OrderItemOut(Out):
    id: int
    product_id: int | None
    name: str
    sku: str | None
    quantity: int
    unit_price: int
    line_total: int


class OrderEventOut(Out):
    from_status: str | None
    to_status: str
    tracking_number: str | None
    actor: str
    note: str
    created_at: datetime


class OrderOut(Out):
    id: int
    status: OrderStatus
    customer_id: int | None
    customer_name: str
    customer_phone: str | None
    delivery_address: str
    notes: str
    total_amount: int
    tracking_number: str | None
    items: list[OrderItemOut]
    history: list[OrderEventOut]
    created_at: datetime
    updated_at: datetime


class Pagination(Out):
    page: int
    limit: int
    total: int
    pages: int


def paginate(page: int, limit: int, total: int) -> Pagination:
    return Pagination(page=page, limit=limit, total=total, pages=(total + limit - 1) // limit)
