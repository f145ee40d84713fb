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

    # An empty variable (`KEY=` in a sourced env file) means "not set": the default applies.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    database_url: str = DEFAULT_SQLITE_URL
    db_pool_size: int = 10
    redis_url: str | None = None
    # Every Redis key of this deployment starts with it (several deployments or test runs
    # can share one Redis server).
    redis_prefix: str = "scx:"
    # Seconds any one Redis command (or connect) may take before it fails.
    redis_timeout: float = 2.0
    secret_key: SecretStr = SecretStr("dev-secret-change-me")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Several web processes may listen on one port (SO_REUSEPORT; the kernel spreads
    # connections among them), instead of one port each behind the proxy.
    http_reuse_port: bool = False
    public_url: str = "http://127.0.0.1:8080"
    cors_origins: str = ""
    cookie_secure: bool = False
    session_max_age: int = 30 * 24 * 3600
    session_idle_timeout: int = 7 * 24 * 3600
    max_body_bytes: int = 1_048_576
    # Seconds a web process may reuse an account it read (plan, admin flag, active) before
    # reading it again. Changes made by this process apply at once; the time bounds how long
    # another process's change (the CLI) takes. None: 2 on SQLite, where one process serves
    # everything, 0 (always read) on PostgreSQL, where several web processes share the data.
    account_cache_seconds: float | None = None
    request_timeout: float = 30.0

    # Abuse controls (web/security.py, core/services/throttle.py).
    rate_limit_enabled: bool = True
    rate_limit_multiplier: float = 1.0
    # Key prefix of the counters in Redis (empty: REDIS_PREFIX + "limits").
    rate_limit_prefix: str = ""
    rate_limit_timeout: float = 2.0
    # Proxies whose X-Forwarded-For is believed (comma-separated networks); none by default.
    trusted_proxies: str = ""
    # Who may read GET /metrics on the web port (comma-separated networks).
    metrics_allowed_networks: str = "127.0.0.0/8, ::1/128"
    login_throttle_enabled: bool = True
    login_max_failures: int = 10
    login_window_seconds: int = 15 * 60
    login_max_attempts_per_address: int = 50
    otp_per_phone_per_hour: int = 5
    registrations_per_address_per_hour: int = 20

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
    # The Meta app's webhook: the token its subscription check echoes, and the app secret that
    # signs every delivery (X-Hub-Signature-256). Empty: the webhook answers 403.
    whatsapp_verify_token: SecretStr = SecretStr("")
    whatsapp_app_secret: SecretStr = SecretStr("")

    # Notification delivery (core/services/delivery.py): each channel's limits as the channel
    # states them (messages per second overall, seconds between two to one recipient).
    telegram_rate_per_second: float = 30.0
    telegram_chat_interval: float = 1.0
    whatsapp_rate_per_second: float = 80.0
    whatsapp_recipient_interval: float = 6.0
    # Divides every channel window and interval above: only for benchmarks and tests that
    # run against local fakes whose limits are scaled up by the same factor.
    delivery_time_scale: float = 1.0
    channel_timeout: float = 20.0
    notification_lease_seconds: float = 30.0
    notification_max_attempts: int = 8
    notification_retry_base: float = 2.0
    notification_retry_max: float = 600.0
    notification_poll_interval: float = 0.5
    eskiz_status_interval: float = 60.0
    otp_ttl_seconds: int = 300
    otp_resend_seconds: int = 60
    otp_max_attempts: int = 5

    wb_search_url: str = "https://search.wb.ru/exactmatch/ru/common/v5/search"
    uzum_graphql_url: str = "https://graphql.uzum.uz/"
    rub_to_uzs: float = 140.0

    media_dir: Path = Path("data/media")
    allow_private_fetch: bool = False
    affiliate_hold_days: int = 14

    # The worker's own /metrics, /health and /ready listener (0: none).
    metrics_port: int = 9100
    # The scheduler lock's expiry, seconds: a dead worker's lock is taken over after it.
    scheduler_lock_ttl: float = 30.0

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
    def account_cache_ttl(self) -> float:
        if self.account_cache_seconds is not None:
            return max(0.0, self.account_cache_seconds)
        return 2.0 if self.is_sqlite else 0.0

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
