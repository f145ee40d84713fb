"""The audit trail: call inside the transaction of the change being recorded."""

from __future__ import annotations

from typing import Any

from core.models import AuditEvent


async def record(
    action: str,
    *,
    actor: str,
    object_type: str,
    object_id: str | int,
    seller_id: int | None = None,
    using_db: Any = None,
    **data: Any,
) -> AuditEvent:
    return await AuditEvent.create(
        seller_id=seller_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=data,
        using_db=using_db,
    )
