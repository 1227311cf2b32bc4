"""The command line, as an operator meets it: real subprocesses, stderr, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.botapp import free_port

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [[], ["run"], ["demo"], ["migrate"], ["stats"], ["export"], ["i18n"], ["i18n", "check"]]


def bot_env(**settings: str) -> dict[str, str]:
    """This environment without any bot setting of the developer's, plus ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "WEBHOOK_", "REDIS_", "DATABASE_")) and k != "WORKERS"
    }
    return {**env, "PYTHONPATH": str(ROOT), **settings}


def emulator_env(emulator: Any, tmp_path: Path, **settings: str) -> dict[str, str]:
    """Settings for a bot process talking to ``emulator`` on a fresh SQLite file."""
    return bot_env(
        BOT_TOKEN=emulator.token,
        TELEGRAM_API_URL=emulator.base_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        **settings,
    )


def python_m_bot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=bot_env(**(env or {})),
        cwd=cwd or ROOT,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_of_every_command(command: list[str]) -> None:
    result = python_m_bot(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: python -m bot")
    assert "Traceback" not in result.stderr


# python-telegram-bot here: the README's command below runs the demo on the default, aiogram.
def test_demo_needs_no_token_and_answers_in_the_terminal(tmp_path: Path) -> None:
    result = python_m_bot("demo", "--runtime", "ptb", "--lang", "de", stdin="/start\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bot: " in result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # the throwaway database is gone


def test_the_demo_saves_what_the_bot_sends_keeps_its_database_and_changes_person(tmp_path: Path) -> None:
    stdin = "/stats\n:user 2\n/start\n"
    result = python_m_bot("demo", "--runtime", "ptb", "--keep-db", "kept.db", stdin=stdin, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[photo, " in result.stdout and "saved to demo-files/01-photo.png" in result.stdout
    assert (tmp_path / "demo-files" / "01-photo.png").read_bytes().startswith(b"\x89PNG")
    assert "now talking as Person 2, id 2" in result.stdout
    assert result.stdout.count("Sign the letter") >= 1  # the second person's /start got the letter
    assert (tmp_path / "kept.db").exists() and f"sqlite+aiosqlite:///{tmp_path}/kept.db" in result.stdout
    assert "\u2068" not in result.stdout and "\u2069" not in result.stdout  # no invisible isolates
    said = [line for line in result.stdout.splitlines() if line.startswith(("bot", " "))]
    assert all(len(line) <= 100 for line in said if " " in line.strip()), "wrapped to the width at word boundaries"


def test_the_readme_run_command_falls_back_to_the_demo_without_a_token(tmp_path: Path) -> None:
    result = python_m_bot("run", "--demo-without-token", stdin="/start\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mass internment" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_the_readme_run_command_reads_the_token_from_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_TOKEN=bad\n")
    result = python_m_bot("run", "--demo-without-token", cwd=tmp_path)
    assert result.returncode == 2
    assert "BOT_TOKEN" in result.stderr


def test_run_with_a_malformed_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = python_m_bot("run", env={"BOT_TOKEN": "bad"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_run_without_a_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = python_m_bot("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: BOT_TOKEN is not set: get one from @BotFather, or try the bot locally with `python -m bot demo`"
    ]


def test_webhook_mode_without_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = python_m_bot("run", "--mode", "webhook", env={"BOT_TOKEN": "123:abc"}, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "WEBHOOK_URL" in result.stderr


def test_unreachable_database_names_it_with_the_password_masked(tmp_path: Path) -> None:
    result = python_m_bot(
        "run",
        env={"BOT_TOKEN": "123:abc", "DATABASE_URL": "postgresql://bot:hunter2@127.0.0.1:1/undersign"},
        cwd=tmp_path,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: DATABASE_URL postgresql+asyncpg://bot:***@127.0.0.1:1/undersign")
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_redis_names_it_with_the_password_masked(tmp_path: Path) -> None:
    result = python_m_bot(
        "run", env={"BOT_TOKEN": "123:abc", "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: REDIS_URL redis://:***@127.0.0.1:1/0")
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


# Short enough that no general token pattern catches it: only its registration as a secret can.
CLI_TOKEN = "123456:cli-token"


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"TELEGRAM_API_URL": "http://127.0.0.1:{port}/" + CLI_TOKEN}, "TELEGRAM_API_URL"),
        ({"TELEGRAM_API_URL": "http://proxy:proxy-pa55word@127.0.0.1:{port}"}, "TELEGRAM_API_URL"),
        ({"REDIS_URL": "redis://:redis-pa55word@127.0.0.1:{port}/0"}, "REDIS_URL"),
    ],
    ids=["token-in-api-url", "password-in-api-url", "password-in-redis-url"],
)
def test_startup_errors_never_print_a_secret(tmp_path: Path, settings: dict[str, str], names: str) -> None:
    port = free_port()  # nothing listens there
    env = {
        "BOT_RUNTIME": "ptb",  # the masking is the runtimes' shared start-up; ptb loads in a second, aiogram in several
        "BOT_TOKEN": CLI_TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "LOG_LEVEL": "DEBUG",
        **{key: value.format(port=port) for key, value in settings.items()},
    }
    result = python_m_bot("run", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and names in last, result.stderr
    output = result.stderr + result.stdout
    for secret in (CLI_TOKEN, "cli-token", "proxy-pa55word", "redis-pa55word"):
        assert secret not in output
    assert "***" in last


def test_json_log_lines_mask_secrets_in_tracebacks_too() -> None:
    import logging

    from bot.logs import JsonLines, protect

    protect("123456:SECRET-token-for-the-json-test")
    logger = logging.getLogger("bot.test_json")
    try:
        raise OSError("GET https://api.telegram.org/bot123456:SECRET-token-for-the-json-test/getMe failed")
    except OSError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "call failed: %s",
            ("123456:SECRET-token-for-the-json-test",),
            sys.exc_info(),
        )
    line = JsonLines().format(record)
    assert "SECRET-token" not in line and "***" in line
    data = json.loads(line)
    assert data["level"] == "ERROR" and "OSError" in data["exception"]


def test_migrate_prints_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    # LOG_FORMAT=json: every log line a JSON object, for log shippers.
    env = {"DATABASE_URL": url, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    result = python_m_bot("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database is at revision ")
    assert result.stdout.split()[-1] != "base"
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "pid", "message"} <= line.keys() for line in lines)
    assert any("Running upgrade" in line["message"] for line in lines), result.stderr


# Each runtime in one mode: the other two pairs are the signing smoke tests' (tests/test_signing_e2e.py).
@pytest.mark.parametrize(("runtime", "mode"), [("aiogram", "webhook"), ("ptb", "polling")])
async def test_run_answers_then_stops_cleanly_on_sigterm(
    runtime: str, mode: str, emulator: Any, tmp_path: Path
) -> None:
    """``python -m bot run`` as the Procfile's processes run it, against the emulator."""
    env = emulator_env(emulator, tmp_path, LOG_LEVEL="DEBUG")
    if mode == "webhook":
        port = free_port()
        env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_SECRET="cli-test-secret", PORT=str(port))
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "run", "--runtime", runtime, "--mode", mode),
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        user = emulator.user(3001, first_name="Ada", language_code="en")
        await user.send("/start")
        assert (await user.wait_message(timeout=30)).text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    assert emulator.token not in log
    assert "SIGTERM received" in log


async def test_a_webhook_port_in_use_is_one_line_and_exit_1(emulator: Any, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = emulator_env(
            emulator,
            tmp_path,
            WEBHOOK_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_SECRET="cli-test-secret",
            WEBHOOK_LISTEN="127.0.0.1",
            PORT=str(port),
            LOG_LEVEL="WARNING",
            BOT_RUNTIME="ptb",  # the webhook server is the one both runtimes share; ptb loads faster
        )
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "run", "--mode", "webhook"),
            env=env,
            cwd=tmp_path,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: cannot listen on WEBHOOK_LISTEN:PORT 127.0.0.1:{port} ")
    assert "in use" in lines[0]
