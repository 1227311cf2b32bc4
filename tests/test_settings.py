"""Settings: every mistake is one line naming the setting; defaults run without services."""

from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    """No stray .env or environment variable may leak into these tests."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    for name in (
        "BOT_TOKEN",
        "BOT_RUNTIME",
        "TELEGRAM_API_URL",
        "DATABASE_URL",
        "REDIS_URL",
        "ADMIN_IDS",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "PORT",
        "MAX_CONCURRENT_UPDATES",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_services() -> None:
    settings = load_settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert settings.bot_runtime == "aiogram"
    assert settings.max_concurrent_updates == 64


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "bad"),
        ("BOT_RUNTIME", "telethon"),
        ("TELEGRAM_API_URL", "ftp://x"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "memcached://x"),
        ("ADMIN_IDS", "1,two"),
        ("WEBHOOK_SECRET", "has spaces"),
        ("PORT", "0"),
        ("MAX_CONCURRENT_UPDATES", "0"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(name), message
    assert "\n" not in message


def test_missing_token_is_one_line() -> None:
    with pytest.raises(SettingsError, match=r"^BOT_TOKEN is not set") as caught:
        _ = load_settings().token
    assert "\n" not in str(caught.value)


def test_platform_urls_get_async_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/d")
    assert load_settings().database_url == "postgresql+asyncpg://u:p@h:5432/d"


def test_webhook_mode_needs_url_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_URL"):
        load_settings().require_webhook()
    monkeypatch.setenv("WEBHOOK_URL", "https://example.org/")
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings().require_webhook()
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret_-")
    assert load_settings().require_webhook() == ("https://example.org", "s3cret_-")


def test_admin_ids_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", " 1, 2;3 ,")
    assert load_settings().admin_ids == frozenset({1, 2, 3})
