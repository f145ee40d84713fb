"""Queue depths for `/metrics`: what waits in each background queue, read at scrape time.

A domain with a queue of its own (videos, price checks) registers its counter the same
way, with `core.metrics.queue_depth`.
"""

from __future__ import annotations

from functools import partial

from core.metrics import queue_depth
from core.models.notifications import Channel, DeliveryState, Notification


async def _notifications(channel: Channel) -> int:
    return await Notification.filter(channel=channel, state=DeliveryState.QUEUED).count()


for _channel in Channel:
    queue_depth(f"notifications_{_channel.value}")(partial(_notifications, _channel))
