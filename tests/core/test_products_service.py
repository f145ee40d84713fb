"""The product services the bot's step-by-step flows use."""

from __future__ import annotations

import pytest

from core.errors import Conflict, NotFound, ValidationFailed
from core.models import AuditEvent, Product
from core.schemas import ProductIn
from core.services import accounts, products


async def seller_id(telegram_id: int = 1) -> int:
    return (await accounts.register_from_telegram(telegram_id, "Owner", "en")).id


async def pot(owner: int, **extra: object) -> Product:
    data = {"name": "Pot", "sku": "POT", "price": 1000, **extra}
    return await products.create(owner, ProductIn.model_validate(data))


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("name", "", "name"),
        ("name", "x" * 256, "name"),
        ("sku", "two words", "sku"),
        ("price", -1, "price"),
        ("price", 10_000_000_001, "price"),
        ("stock_quantity", -1, "stockQuantity"),
        ("category", "c" * 65, "category"),
    ],
)
def test_check_field_uses_the_rest_rules(name: str, value: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        products.check_field(name, value)
    assert caught.value.field == field


def test_check_field_returns_the_clean_value() -> None:
    assert products.check_field("name", "  Pot  ") == "Pot"


async def test_check_new_sku(database: None) -> None:
    mine, theirs = await seller_id(1), await seller_id(2)
    await pot(mine)

    with pytest.raises(Conflict):
        await products.check_new_sku(mine, " POT ")
    assert await products.check_new_sku(theirs, "POT") == "POT"
    assert await products.check_new_sku(mine, "POT-2") == "POT-2"


async def test_update_field(database: None) -> None:
    owner = await seller_id()
    product = await pot(owner)

    updated = await products.update_field(owner, product.id, "stock_quantity", 9)

    assert (await Product.get(id=product.id)).stock == updated.stock == 9
    with pytest.raises(ValidationFailed):
        await products.update_field(owner, product.id, "price", -5)
    with pytest.raises(NotFound):
        await products.update_field(await seller_id(2), product.id, "price", 5)


async def test_add_photo_appends_up_to_ten(database: None) -> None:
    owner = await seller_id()
    product = await pot(owner, photos=[f"tg:F{i}" for i in range(9)])

    await products.add_photo(owner, product.id, products.telegram_photo("LAST"))

    stored = await Product.get(id=product.id)
    assert stored.photos[-1] == "tg:LAST" and len(stored.photos) == 10
    with pytest.raises(ValidationFailed) as caught:
        await products.add_photo(owner, product.id, "tg:ONE-TOO-MANY")
    assert caught.value.field == "photos"
    assert (
        await AuditEvent.filter(action="product.updated", object_id=str(product.id)).count() == 1
    )


async def test_add_photo_to_another_sellers_product_is_not_found(database: None) -> None:
    product = await pot(await seller_id(1))

    with pytest.raises(NotFound):
        await products.add_photo(await seller_id(2), product.id, "tg:X")
    assert (await Product.get(id=product.id)).photos == []


@pytest.mark.parametrize(
    ("photos", "shown"),
    [
        ([], None),
        (["tg:FILE"], "FILE"),
        (["https://cdn.example.com/a.jpg", "tg:FILE"], "https://cdn.example.com/a.jpg"),
        (["local/path.jpg", "tg:FILE"], "FILE"),
        (["local/path.jpg"], None),
    ],
)
def test_showable_photo(photos: list[str], shown: str | None) -> None:
    assert products.showable_photo(Product(photos=photos)) == shown
