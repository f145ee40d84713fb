"""One settings class for every process: read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite://data/sellercloudx.sqlite3"


class Settings(BaseSettings):
    """Everything the outside can configure; names are the contract of DESIGN.md."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = DEFAULT_SQLITE_URL
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr("dev-secret-change-me")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    cors_origins: str = ""
    cookie_secure: bool = False
    session_max_age: int = 30 * 24 * 3600
    session_idle_timeout: int = 7 * 24 * 3600
    max_body_bytes: int = 1_048_576
    request_timeout: float = 30.0

    bot_token: SecretStr | None = None
    bot_mode: Literal["polling", "webhook"] = "polling"
    telegram_api_url: str = "https://api.telegram.org"
    webhook_secret: SecretStr | None = None
    bot_username: str = "SellerCloudXBot"

    click_service_id: str = ""
    click_merchant_id: str = ""
    click_secret_key: SecretStr = SecretStr("")
    click_pay_url: str = "https://my.click.uz/services/pay"
    payme_merchant_id: str = ""
    payme_key: SecretStr = SecretStr("")
    payme_checkout_url: str = "https://checkout.paycom.uz/"
    payme_allowed_ips: str = ""

    eskiz_email: str = ""
    eskiz_password: SecretStr = SecretStr("")
    eskiz_from: str = "4546"
    eskiz_api_url: str = "https://notify.eskiz.uz/api"
    sms_rate_per_second: float = 5.0
    whatsapp_token: SecretStr = SecretStr("")
    whatsapp_phone_number_id: str = ""
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"

    wb_search_url: str = "https://search.wb.ru/exactmatch/ru/common/v5/search"
    uzum_graphql_url: str = "https://graphql.uzum.uz/"
    rub_to_uzs: float = 140.0

    media_dir: Path = Path("data/media")
    allow_private_fetch: bool = False
    affiliate_hold_days: int = 14

    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    @field_validator("database_url")
    @classmethod
    def _normalise_db_url(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            return "postgres://" + value.removeprefix("postgresql://")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def bot_enabled(self) -> bool:
        return self.bot_token is not None and bool(self.bot_token.get_secret_value())


_override: Settings | None = None


@lru_cache(maxsize=1)
def _load() -> Settings:
    return Settings()


def get_settings() -> Settings:
    """The process settings; tests may install an override with `use_settings`."""
    return _override if _override is not None else _load()


def use_settings(settings: Settings | None) -> None:
    """Replace the process settings (tests and the CLI); None returns to the environment."""
    global _override
    _override = settings
    _load.cache_clear()


def field_names() -> list[str]:
    return list(Settings.model_fields)


__all__ = ["DEFAULT_SQLITE_URL", "Settings", "get_settings", "use_settings"]
