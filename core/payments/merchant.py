"""Merchant secrets that can change at run time: the Payme key after ChangePassword.

The key set by Payme's ChangePassword is stored in `merchant_settings` (as a SHA-256 digest,
never in clear) and takes precedence over `PAYME_KEY` from the environment, so it survives
restarts and every web process sees it at once.
"""

from __future__ import annotations

import hashlib
import hmac

from tortoise.backends.base.client import BaseDBAsyncClient

from core.models import MerchantSetting
from core.settings import Settings

PAYME_KEY = "payme_key"


def digest(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


async def payme_key_digest(settings: Settings) -> str | None:
    """The digest of the key Payme must present; None when no key is configured."""
    row = await MerchantSetting.get_or_none(key=PAYME_KEY)
    if row is not None:
        return row.value
    env_key = settings.payme_key.get_secret_value()
    return digest(env_key) if env_key else None


async def payme_key_matches(presented: str, settings: Settings) -> bool:
    """Constant-time comparison of the presented key with the current one."""
    expected = await payme_key_digest(settings)
    if expected is None:
        return False
    return hmac.compare_digest(digest(presented).encode(), expected.encode())


async def set_payme_key(new_key: str, conn: BaseDBAsyncClient | None = None) -> None:
    await MerchantSetting.update_or_create(
        defaults={"value": digest(new_key)}, key=PAYME_KEY, using_db=conn
    )
