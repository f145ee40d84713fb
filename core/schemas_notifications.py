"""Wire models of notifications and customers: the seed's send bodies, outbox and batch views.

Bodies keep the seed's field names exactly (`chatId`, `phone`, `message`, `provider`, `type`,
`data`, `notifications[].partnerId`); phones are normalised by the services, which name the
offending field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from core.models import Channel, DeliveryState, Language, MessageType
from core.schemas import ApiModel, Out, Phone
from core.services.messages import MAX_VALUE, VALUES, WIRE_NAMES

# The documented Uzbek phone pattern (core.schemas.Phone): a valid-looking phone is valid.
PhoneText = Phone
MessageText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096)
]
SmsText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
OtpText = Annotated[str, StringConstraints(pattern=r"^\d{4,8}$")]
MAX_BULK = 10_000
# Types a REST client may send; notices to sellers are the platform's own.
CLIENT_TYPES = frozenset(kind for kind in MessageType if kind is not MessageType.NOTICE)


def _client_type(value: MessageType) -> MessageType:
    if value not in CLIENT_TYPES:
        raise ValueError(f"type must be one of: {', '.join(sorted(CLIENT_TYPES))}")
    return value


ClientType = Annotated[
    MessageType,
    AfterValidator(_client_type),
    # The document lists only what a client may send (not the platform's own notices).
    WithJsonSchema({"type": "string", "enum": sorted(k.value for k in CLIENT_TYPES)}),
]


def _data_rules() -> dict[str, Any]:
    """The `data` values each type needs, as `messages.values_from_wire` checks them: a
    non-blank string (at most MAX_VALUE long), a number or a boolean."""
    value = {
        "anyOf": [
            {"type": "string", "pattern": r"\S", "maxLength": MAX_VALUE},
            {"type": "number"},
            {"type": "boolean"},
        ]
    }
    rules = []
    for kind in sorted(CLIENT_TYPES):
        names = [WIRE_NAMES[name] for name in VALUES[kind] if name != "minutes"]
        data = {"type": "object", "required": names, "properties": dict.fromkeys(names, value)}
        rules.append(
            {
                "if": {"properties": {"type": {"const": kind.value}}, "required": ["type"]},
                "then": {"required": ["data"], "properties": {"data": data}},
            }
        )
    return {"allOf": rules}


class TelegramSendIn(ApiModel):
    chat_id: Annotated[int, Field(ge=-(10**15), le=10**15)]
    message: MessageText


class SmsSendIn(ApiModel):
    phone: PhoneText
    message: SmsText
    provider: Literal["eskiz"] = "eskiz"


class OtpSendIn(ApiModel):
    phone: PhoneText
    code: OtpText | None = None


class OtpVerifyIn(ApiModel):
    phone: PhoneText
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8)]


class WhatsAppSendIn(ApiModel):
    schema_rules: ClassVar[dict[str, Any]] = _data_rules()

    phone: PhoneText
    type: ClientType
    data: dict[str, Any] = {}


class BulkItemIn(ApiModel):
    schema_rules: ClassVar[dict[str, Any]] = _data_rules()

    partner_id: int | None = None
    phone: Phone
    type: ClientType
    data: dict[str, Any] = {}


class WhatsAppBulkIn(ApiModel):
    notifications: Annotated[list[BulkItemIn], Field(min_length=1, max_length=MAX_BULK)]


class NotificationQuery(ApiModel):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    status: DeliveryState | None = None
    channel: Channel | None = None
    batch_id: Annotated[int, Field(ge=1)] | None = None


class NotificationOut(Out):
    id: int
    channel: Channel
    type: str
    recipient: str
    customer_id: int | None
    status: DeliveryState
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    batch_id: int | None
    text: str
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None


class BatchOut(Out):
    id: int
    type: str
    channel: str | None
    total: int
    queued: int
    sending: int
    sent: int
    delivered: int
    failed: int
    unconfirmed: int
    remaining: int
    done: bool
    created_at: datetime
    finished_at: datetime | None


class OtpOut(Out):
    notification_id: int
    phone: str
    expires_at: datetime


class OtpVerifyOut(Out):
    verified: bool


# --- customers --------------------------------------------------------------------------------


class CustomerIn(ApiModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] = ""
    phone: PhoneText
    language: Language | None = None
    marketing_consent: bool = False


class CustomerUpdate(ApiModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] | None = None
    language: Language | None = None
    marketing_consent: bool | None = None


class CustomerQuery(ApiModel):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    consent: bool | None = None
    telegram: bool | None = None


class CustomerOut(Out):
    id: int
    name: str
    phone: str | None
    language: str | None
    telegram_linked: bool
    marketing_consent: bool
    channel: str | None
    created_at: datetime
    deep_link: str | None = None


class InviteOut(Out):
    deep_link: str
