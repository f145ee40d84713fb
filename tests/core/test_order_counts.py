from __future__ import annotations

import pytest

from core.errors import InvalidTransition
from core.models import OrderStatus
from core.schemas import OrderIn, OrderStatusIn
from core.services import accounts, orders

S = OrderStatus


def free_order() -> OrderIn:
    return OrderIn.model_validate({"items": [{"name": "Box", "quantity": 1, "price": 10}]})


async def test_count_by_status_has_every_status(database: None) -> None:
    mine = (await accounts.register_from_telegram(1, "A", "en")).id
    theirs = (await accounts.register_from_telegram(2, "B", "en")).id
    for _ in range(2):
        await orders.create(mine, free_order())
    cancelled = await orders.create(mine, free_order())
    await orders.change_status(mine, cancelled.id, OrderStatusIn(status=S.CANCELLED))
    await orders.create(theirs, free_order())

    counts = await orders.count_by_status(mine)

    assert counts == {
        S.NEW: 2,
        S.CONFIRMED: 0,
        S.SHIPPED: 0,
        S.DELIVERED: 0,
        S.CANCELLED: 1,
        S.RETURNED: 0,
    }
    assert list(counts) == list(OrderStatus)


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (S.NEW, S.CONFIRMED, True),
        (S.NEW, S.SHIPPED, False),
        (S.SHIPPED, S.RETURNED, True),
        (S.CANCELLED, S.NEW, False),
    ],
)
def test_check_transition(old: S, new: S, allowed: bool) -> None:
    if allowed:
        orders.check_transition(old, new)
    else:
        with pytest.raises(InvalidTransition) as caught:
            orders.check_transition(old, new)
        assert caught.value.details["allowed"] == [str(s) for s in orders.allowed_next(old)]
