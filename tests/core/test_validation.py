from __future__ import annotations

import pytest

from core.errors import ValidationFailed
from core.schemas import OrderIn, OrderStatusIn, ProductIn, ProductUpdate
from core.validation import validate, wire_name


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (ProductUpdate, {"stock_quantity": -1}, "stockQuantity"),
        (ProductUpdate, {"stockQuantity": -1}, "stockQuantity"),
        (ProductUpdate, {"sku": "has space"}, "sku"),
        (ProductIn, {"name": "Pot", "sku": "P", "price": "ten"}, "price"),
        (OrderIn, {"items": [{"product_id": 0, "quantity": 1}]}, "items[0].productId"),
        (OrderStatusIn, {"status": "lost"}, "status"),
    ],
)
def test_the_first_problem_names_the_wire_field(
    model: type[ProductIn], data: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate(model, data)
    assert caught.value.field == field


def test_valid_data_builds_the_model() -> None:
    built = validate(ProductUpdate, {"price": 5, "stock_quantity": 2})
    assert (built.price, built.stock_quantity) == (5, 2)


def test_wire_name_skips_union_tags() -> None:
    assert wire_name(("items", 3, "free-line", "price")) == "items[3].price"
