"""Pydantic models at the edge of the core: what a client may send and what it gets back.

Field names are snake_case in Python and camelCase on the wire (`stockQuantity`,
`totalAmount`, `trackingNumber`), as the seed documents them. Input models forbid unknown
fields, so `plan`, `isAdmin`, `sellerId` and the like can never be set through a body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
)
from pydantic.alias_generators import to_camel

from core.models.base import Language, OrderStatus
from core.phones import UZ_PHONE_PATTERN, check_phone_text

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
# An id of a stored object (a 64-bit key): beyond it nothing can exist.
MAX_ID = 2**63 - 1
EntityId = Annotated[int, Field(ge=1, le=MAX_ID)]
# An Uzbek phone number as people write it (`+998 90 123 45 67`, `901234567`); the schema
# carries the exact pattern, so a documented-valid phone is never refused.
Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(check_phone_text),
    Field(json_schema_extra={"pattern": UZ_PHONE_PATTERN}),
]


def _strips_to_something(annotation: Any) -> bool:
    """An `Annotated[str, StringConstraints(strip_whitespace=True, min_length>=1)]`, or
    `X | None` of one."""
    if get_origin(annotation) is Annotated:
        return any(
            isinstance(m, StringConstraints) and m.strip_whitespace and (m.min_length or 0) >= 1
            for m in annotation.__metadata__
        )
    return any(_strips_to_something(arg) for arg in get_args(annotation))


def _document_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """What validation checks beyond the generated schema, written into the schema.

    A stripped string with a minimum length needs a visible character (`"  "` is refused),
    and a model may add cross-field rules (`schema_rules`, e.g. if/then).
    """
    properties = schema.get("properties", {})
    for name, field in model.model_fields.items():
        stripped = any(
            isinstance(m, StringConstraints) and m.strip_whitespace and (m.min_length or 0) >= 1
            for m in field.metadata
        )
        if not (stripped or _strips_to_something(field.annotation)):
            continue
        prop = properties.get(field.alias or name, {})
        for target in [prop, *prop.get("anyOf", [])]:
            if target.get("type") == "string":
                target.setdefault("pattern", r"\S")
    schema.update(getattr(model, "schema_rules", {}))


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=False,
        json_schema_extra=_document_rules,
    )
    # Cross-field rules in JSON Schema terms, merged into the model's schema.
    schema_rules: ClassVar[dict[str, Any]] = {}


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# --- accounts -------------------------------------------------------------------------------


class RegisterIn(ApiModel):
    username: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{3,32}$")
    ]
    password: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    full_name: ShortText = ""
    phone: Phone | None = None
    language: Language | None = None
    referral_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{4,16}$")] | None = None
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
    product_id: EntityId
    quantity: Quantity


class FreeLine(ApiModel):
    name: Name
    quantity: Quantity
    price: Price


# Picking the member up front makes errors name the line's own field (`items[0].price`)
# instead of reporting both members. Tags show up in error locations, never on the wire.
CATALOG_LINE, FREE_LINE = "catalog-line", "free-line"
UNION_TAGS = frozenset({CATALOG_LINE, FREE_LINE})


def _line_kind(value: Any) -> str | None:
    """A line naming a product is a catalog line; any other object is a free line."""
    if isinstance(value, dict):
        return CATALOG_LINE if {"productId", "product_id"} & value.keys() else FREE_LINE
    if isinstance(value, CatalogLine):
        return CATALOG_LINE
    return FREE_LINE if isinstance(value, FreeLine) else None


OrderLine = Annotated[
    Annotated[CatalogLine, Tag(CATALOG_LINE)] | Annotated[FreeLine, Tag(FREE_LINE)],
    Discriminator(
        _line_kind,
        custom_error_type="order_line",
        custom_error_message="a line is {productId, quantity} or {name, quantity, price}",
    ),
]


class OrderIn(ApiModel):
    customer_name: ShortText = ""
    customer_phone: Phone | None = None
    delivery_address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    total_amount: Annotated[int, Field(ge=0)] | None = None


class OrderStatusIn(ApiModel):
    schema_rules: ClassVar[dict[str, Any]] = {
        "if": {"properties": {"status": {"const": OrderStatus.SHIPPED.value}}},
        "then": {
            "required": ["trackingNumber"],
            "properties": {"trackingNumber": {"type": "string", "pattern": r"\S"}},
        },
    }

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
