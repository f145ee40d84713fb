"""In-process domain events: the core announces, other core services subscribe.

Subscribers run inside the emitting transaction (they get its connection), so that what they
write, an outbox row for example, commits or rolls back with the change itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[None]]
_subscribers: dict[str, list[Handler]] = defaultdict(list)

ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_CREATED = "order.created"
PAYMENT_PAID = "payment.paid"
PAYMENT_CANCELLED = "payment.cancelled"
PLAN_EXPIRING = "plan.expiring"
PLAN_EXPIRED = "plan.expired"


def subscribe(event: str, handler: Handler) -> None:
    if handler not in _subscribers[event]:
        _subscribers[event].append(handler)


async def emit(event: str, **payload: Any) -> None:
    for handler in list(_subscribers[event]):
        await handler(**payload)
