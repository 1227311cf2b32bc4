"""Logging: one line per event, and no secret ever reaches a log.

The frameworks and HTTP clients log request URLs, and a Bot API URL contains
the token (``.../bot123:ABC/sendMessage``). ``SecretFilter`` rewrites every
record as it is created (installed through the log-record factory, so it also
covers handlers we do not own, such as pytest's ``caplog``): bot tokens become
``bot***``, registered secrets ``***`` and URL passwords ``://user:***@``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
_BARE_TOKEN = re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}\b")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.IGNORECASE)

# Our own loggers follow LOG_LEVEL down to DEBUG. Everyone else stays at INFO or above even
# then: at DEBUG, aiosqlite and python-telegram-bot log SQL parameters and request bodies,
# i.e. names and message text.
_OWN_LOGGERS = ("bot", "handlers", "storage")
# Too chatty even at INFO: httpx logs every request URL (python-telegram-bot),
# aiogram.event every handled update, fontTools the glyph names of every font it
# subsets for the PDF export (the characters of the signers' names).
_QUIET_LOGGERS = ("httpx", "httpcore", "aiogram.event", "apscheduler", "alembic.runtime.plugins", "fontTools")

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# With several worker processes (``run --workers N``) each line says which process wrote it.
FORMAT_WITH_PID = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with bot tokens, the given secrets and URL passwords replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _TOKEN_IN_URL.sub("bot***", text)
    text = _BARE_TOKEN.sub("***", text)
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def mask_url(url: str) -> str:
    """A connection URL fit for a log line or an error message (password masked)."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


def url_passwords(url: str | None) -> list[str]:
    """The password of a connection URL, as written and percent-decoded, to register as secrets."""
    if not url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed URL: the pattern in ``mask`` still covers the usual forms
        return []
    if not password:
        return []
    return list(dict.fromkeys([password, unquote(password)]))


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message and formatted exception; never drops a record."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add_secret(self, value: str | None) -> None:
        if value:
            self.secrets.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        masked = mask(message, self.secrets)
        if masked != message:  # leave clean records untouched (args and all)
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info), self.secrets)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, self.secrets)
        return True


secret_filter = SecretFilter()
_installed_factory: Callable[..., logging.LogRecord] | None = None


def _install_record_factory() -> None:
    """Run ``secret_filter`` on every record created anywhere (idempotent)."""
    global _installed_factory
    if _installed_factory is not None and logging.getLogRecordFactory() is _installed_factory:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        secret_filter.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed_factory = factory


class JsonLines(logging.Formatter):
    """``LOG_FORMAT=json``: one JSON object per line, for log shippers (Loki, Elasticsearch,
    a platform's log search): ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``,
    ``message`` (masked like any line), and ``exception`` when there is a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:  # masked by ``SecretFilter`` (the bot token can sit in a URL of a traceback)
            line["exception"] = record.exc_text or mask(self.formatException(record.exc_info), secret_filter.secrets)
        if record.stack_info:
            line["stack"] = mask(record.stack_info, secret_filter.secrets)
        return json.dumps(line, ensure_ascii=False)


def setup_logging(
    level: str = "INFO", secrets: Iterable[str | None] = (), *, with_pid: bool = False, json_lines: bool = False
) -> None:
    """Configure the root logger once: one line per record on stderr, secrets masked; with
    ``with_pid``, each line names the process (several workers write to one log); with
    ``json_lines``, each line is a JSON object (``JsonLines``)."""
    for secret in secrets:
        secret_filter.add_secret(secret)
    _install_record_factory()
    root = logging.getLogger()
    root.setLevel(max(logging.getLevelName(level), logging.INFO))
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if not any(getattr(handler, "_undersign", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines() if json_lines else logging.Formatter(FORMAT_WITH_PID if with_pid else FORMAT))
        handler.addFilter(secret_filter)
        handler._undersign = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def mask_secrets(text: str) -> str:
    """``text`` masked like a log record: for what is printed without logging (the CLI)."""
    return mask(text, secret_filter.secrets)


def protect(*secrets: str | None) -> None:
    """Register secrets to mask without touching handlers (tests, embedded use)."""
    for secret in secrets:
        secret_filter.add_secret(secret)
    _install_record_factory()
