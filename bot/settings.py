"""Settings from the environment or ``.env`` (pydantic-settings).

A bad or missing value must stop the bot with one line naming the setting:
``load_settings`` turns pydantic's errors into ``SettingsError`` with that line.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from petition.campaign import CAMPAIGNS_DIR

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///undersign.db"


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    bot_runtime: Literal["aiogram", "ptb"] = "aiogram"
    telegram_api_url: str = DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = "undersign:"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    default_locale: str = "en"
    campaign: str = "xinjiang"  # the home campaign: links without a campaign open it
    # Every campaign file here is live beside the home one (``t.me/<bot>?start=<slug>``).
    campaigns_dir: Path = CAMPAIGNS_DIR
    state_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    max_concurrent_updates: int = Field(default=64, ge=1, le=10_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line, for log shippers
    # Percent of a catalog translated before signers are offered its language (handlers.i18n.MIN_COMPLETE).
    translation_threshold: int = Field(default=90, ge=0, le=100)
    # After the signature: retention, receipts, news to signers and milestones.
    campaign_end: date | None = None  # the day the campaign ends (YYYY-MM-DD); personal data has an end date
    retention_days: int = Field(default=180, ge=0, le=3650)  # kept this long after CAMPAIGN_END, then purged
    receipt_secret: SecretStr | None = None  # derives receipt codes; generated once and kept in the DB if unset
    broadcast_rate: float = Field(default=25.0, gt=0, le=1000)  # messages per second, all chats together
    milestones: Annotated[tuple[int, ...] | None, NoDecode] = (
        None  # totals that trigger a message; default: the campaign's
    )
    flood_limit: int = Field(default=30, ge=5, le=10_000)  # updates per minute per person before "please slow down"
    workers: int = Field(default=1, ge=1, le=64)  # webhook worker processes on one port (`run --workers`)
    metrics_token: SecretStr | None = None  # if set, GET /metrics needs `Authorization: Bearer <token>`
    # The bot's @username for `python -m bot web`'s links when it runs without BOT_TOKEN (else getMe says).
    bot_username: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", value.get_secret_value()):
            raise ValueError("must look like 123456:ABC-def (as given by @BotFather)")
        return value

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"https?://[^\s/]+", value):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept the URLs platforms hand out (postgres://...) and pick the async driver."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value[len("sqlite:///") :]
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must be a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            return frozenset(int(part) for part in parts if part)
        return value

    @field_validator("milestones", mode="before")
    @classmethod
    def _milestone_list(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip().replace("_", "") for part in value.replace(";", ",").split(",")]
            numbers = tuple(sorted({int(part) for part in parts if part}))
            if any(number < 1 for number in numbers):
                raise ValueError("must be positive whole numbers, e.g. 1000,10000,100000")
            return numbers
        return value

    @field_validator("receipt_secret")
    @classmethod
    def _receipt_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(
                "must be at least 16 characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and -."""
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def token(self) -> str:
        if self.bot_token is None:
            raise SettingsError(
                "BOT_TOKEN is not set: get one from @BotFather, or try the bot locally with `python -m bot demo`"
            )
        return self.bot_token.get_secret_value()

    def require_webhook(self) -> tuple[str, str]:
        """The webhook URL and secret, or a one-line error naming the missing one."""
        if not self.webhook_url:
            raise SettingsError("WEBHOOK_URL is not set: webhook mode needs the public https:// URL Telegram calls")
        if self.webhook_secret is None:
            raise SettingsError("WEBHOOK_SECRET is not set: webhook mode needs a secret token (A-Z, a-z, 0-9, _, -)")
        return self.webhook_url, self.webhook_secret.get_secret_value()

    def require_shared_state(self, workers: int) -> None:
        """Several worker processes share nothing but the database and the state store: refuse
        the settings with which they would not (memory state) or would only queue on locks
        (SQLite: one writer at a time for the whole file, whatever the number of processes)."""
        if workers <= 1:
            return
        if not self.redis_url:
            raise SettingsError(
                f"{workers} workers need REDIS_URL: conversation state in memory is not shared between processes"
            )
        if self.database_url.startswith("sqlite"):
            raise SettingsError(
                f"{workers} workers need PostgreSQL in DATABASE_URL: SQLite writes one at a time, "
                "so more processes only wait for each other (run one worker on SQLite)"
            )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, raising ``SettingsError`` with one line naming the bad one."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {message}") from None
