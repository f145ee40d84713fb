"""Small asyncio helpers for the long-running loops of the worker.

Why `checkpoint` exists: on Python 3.11 a cancellation can be lost inside library code that
wraps a read in `asyncio.timeout(0)` (redis-py's health check does), when the cancel lands
in the same loop iteration as that timeout. The task then keeps running with its cancel
request still counted (`Task.cancelling()`), and a `while not stop.is_set()` loop would run
for ever. Every long-running loop calls `checkpoint()` once per turn, which raises the
cancellation that was asked for.
"""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """True when someone asked to cancel the current task and it has not been honoured."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def checkpoint() -> None:
    """Raise `CancelledError` if a cancellation of the current task was requested and lost."""
    if cancel_requested():
        raise asyncio.CancelledError
