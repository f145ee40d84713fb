"""`checkpoint` turns a cancellation that library code lost back into one."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from core.aio import cancel_requested, checkpoint


async def test_a_lost_cancellation_is_raised_at_the_next_checkpoint() -> None:
    turns = 0

    async def loop() -> None:
        nonlocal turns
        while True:
            checkpoint()
            turns += 1
            with contextlib.suppress(asyncio.CancelledError):  # a library that loses it
                await asyncio.sleep(0.005)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.03)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert task.cancelled()
    assert 0 < turns < 100


async def test_a_task_nobody_cancelled_passes_the_checkpoint() -> None:
    assert not cancel_requested()
    checkpoint()
