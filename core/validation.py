"""Build the core's pydantic models from data that did not come through the REST layer.

The bot collects a product or a status change piece by piece; building the same schema the
REST API uses keeps both transports on one set of rules. A failure becomes `ValidationFailed`
naming the field as the wire does (`stockQuantity`, `items[0].productId`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from core.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def wire_name(location: tuple[int | str, ...]) -> str:
    """`('items', 0, 'catalog-line', 'product_id')` as `items[0].productId`.

    Pydantic names a field as the input did (Python or wire name) and a union member by a
    tag such as `catalog-line`, which is no part of the wire name.
    """
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        elif "-" not in part and part[:1].islower():
            name += ("." if name else "") + to_camel(part)
    return name


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    """`model` built from `data`; the first problem raises `ValidationFailed`."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ValidationFailed(wire_name(tuple(first["loc"])), first["msg"]) from None
