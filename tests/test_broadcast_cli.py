"""``python -m bot broadcast``: the dry run, the operator's mistakes, and a real send.

The dry run and the mistakes go through click's runner (on SQLite and PostgreSQL);
the real send is a subprocess talking to the emulator, as on a server.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli.broadcast import broadcast as broadcast_command
from emulator import Emulator
from handlers.news import STOP_UPDATES
from storage import consents
from storage.db import Database
from storage.migrate import upgrade, upgrade_sync
from storage.models import Broadcast, Signature
from tests.fixtures.services import run_async
from tests.signers import add_signer
from tests.test_cli import ROOT, bot_env

# (user id, language, opted in)
SIGNERS = [(6001, "en", True), (6002, "de", True), (6003, "de", True), (6004, "ug", True), (6005, "fr", False)]
HOSTILE = 'Hello <b>all</b> & =SUM(A1) "quoted"'


async def _seed(database_url: str) -> None:
    db = Database(database_url, pool_size=2)
    try:
        for user_id, language, opt_in in SIGNERS:
            await add_signer(db, user_id, language=language, opt_in=opt_in)
    finally:
        await db.dispose()


async def _broadcasts(database_url: str) -> int:
    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(Broadcast)) or 0)
    finally:
        await db.dispose()


def _env(database_url: str) -> dict[str, str | None]:
    return {"DATABASE_URL": database_url, "CAMPAIGN": "xinjiang", "BOT_TOKEN": None, "TELEGRAM_API_URL": None}


def _write(tmp_path: Path, text: str | bytes, name: str = "news.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _run(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(broadcast_command, list(args), env=_env(database_url))
    return result.exit_code, result.stdout, result.stderr


def test_the_dry_run_shows_recipients_and_each_language_s_message(database_url: str, tmp_path: Path) -> None:
    run_async(lambda: _seed(database_url))
    text = _write(tmp_path, f"{HOSTILE}\n[de]\nHallo <i>alle</i>")
    code, out, err = _run(database_url, "--text-file", str(text), "--dry-run")
    assert code == 0, err
    lines = [" ".join(line.replace("│", " ").split()) for line in out.splitlines()]
    assert "Deutsch (de) 2 its own" in lines
    assert "English (en) 1 the [all] text" in lines
    assert "ئۇيغۇرچە (ug) 1 the [all] text" in lines
    assert "Total 4" in lines
    assert not any(line.startswith("Français") for line in lines)  # did not ask for news
    assert "Hallo <i>alle</i>" in out and HOSTILE in out  # shown as the recipients read them
    assert "News about the letter" in out
    assert out.rstrip().endswith("dry run: nothing was sent")
    assert run_async(lambda: _broadcasts(database_url)) == 0

    only = _write(tmp_path, "Hallo nur auf Deutsch", "de.txt")
    code, out, err = _run(database_url, "--text-file", str(only), "--lang", "DE", "--dry-run")
    assert code == 0, err
    assert "Total 2" in [" ".join(line.replace("│", " ").split()) for line in out.splitlines()]
    assert "English" not in out and "Hallo nur auf Deutsch" in out
    assert run_async(lambda: _broadcasts(database_url)) == 0


def test_the_organisation_list_is_its_own_audience(database_url: str, tmp_path: Path) -> None:
    """``--organisation-list``: those who asked for news of future campaigns, in the language they
    gave it in, with the organisation's heading; not a campaign's subscribers."""

    async def seed() -> None:
        db = Database(database_url, pool_size=2)
        try:
            await _seed(database_url)
            news = consents.Given(consents.ORGANISATION, "", "w1")
            await consents.record(db, 6005, "xinjiang", [news], language="fr")  # no news of the letter, but this
        finally:
            await db.dispose()

    run_async(seed)
    text = _write(tmp_path, "Une nouvelle lettre")
    code, out, err = _run(database_url, "--text-file", str(text), "--dry-run", "--organisation-list")
    assert code == 0, err
    lines = [" ".join(line.replace("│", " ").split()) for line in out.splitlines()]
    assert "Total 1" in lines and any(line.startswith("Français (fr) 1") for line in lines)
    assert "📢 Des nouvelles d'Amnesty International" in out and "Une nouvelle lettre" in out  # in French
    assert "News about the letter" not in out
    code, _, err = _run(database_url, "--text-file", str(text), "--organisation-list", "--campaign", "xinjiang")
    assert code == 2 and "leave --campaign out" in err


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, (), "cannot read"),
        (b"\xff\xfe\x00bad", (), "not UTF-8 text"),
        ("\n  \n", (), "no text to send"),
        ("Hello", ("--lang", "xx"), "--lang xx: unknown language"),
        ("[xx]\nHello", (), "unknown language tag [xx]"),
        ("[de]\n\n[fr]\nSalut", (), "the text after [de] is empty"),
        ("[de]\nHallo", (), "no text for the recipients in en (1), ug (1)"),
        ("Hello\n[de]\nHallo", ("--lang", "de"), "with --lang de the file must hold only that language's text"),
        ("Bonjour", ("--lang", "fr"), "nobody in fr has asked for news: nothing to send"),
        ("Hello", ("--lang", "de"), "BOT_TOKEN is not set"),  # only a real send needs the token
    ],
    ids=["missing", "binary", "empty", "lang", "tag", "section", "uncovered", "lang-file", "nobody", "token"],
)
def test_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, content: str | bytes | None, args: tuple[str, ...], message: str
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    upgrade_sync(database_url)
    run_async(lambda: _seed(database_url))
    path = tmp_path / "missing.txt" if content is None else _write(tmp_path, content)
    code, out, err = _run(database_url, "--text-file", str(path), *args)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert run_async(lambda: _broadcasts(database_url)) == 0


async def test_a_real_send_reaches_everyone_in_their_language(emulator: Emulator, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await upgrade(database_url)
    await _seed(database_url)
    people = {user_id: emulator.user(user_id, language_code=language) for user_id, language, _ in SIGNERS}
    for person in people.values():
        person.started = True
    text = _write(tmp_path, f"{HOSTILE}\n[de]\nHallo <i>alle</i>")
    env = bot_env(
        DATABASE_URL=database_url,
        CAMPAIGN="xinjiang",
        BOT_TOKEN=emulator.token,
        TELEGRAM_API_URL=str(emulator.base_url),
        BROADCAST_RATE="50",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "broadcast",
        "--text-file",
        str(text),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "broadcast 1 created for 4 people" in out.decode()
    assert "received: 4 of 4" in out.decode()
    assert emulator.token not in out.decode() + err.decode()
    expected = {6001: HOSTILE, 6002: "Hallo <i>alle</i>", 6003: "Hallo <i>alle</i>", 6004: HOSTILE}
    for user_id, wanted in expected.items():
        [news] = people[user_id].messages
        assert wanted in news.text
        assert news.buttons[-1][0].callback_data == STOP_UPDATES
    assert people[6005].messages == []
    assert emulator.rejected == []
    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(Signature)) == 5
            found = await session.scalar(select(Broadcast))
            assert found is not None and (found.status, found.total, found.created_by) == ("done", 4, None)
    finally:
        await db.dispose()


async def test_telegram_unreachable_after_creating_is_one_line_and_the_broadcast_stays_queued(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await upgrade(database_url)
    await _seed(database_url)
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    token = "123456:unreachable-secret-token"
    env = bot_env(
        DATABASE_URL=database_url,
        CAMPAIGN="xinjiang",
        BOT_TOKEN=token,
        TELEGRAM_API_URL=f"http://127.0.0.1:{closed}",
        BOT_RUNTIME="ptb",  # the error is the runtimes' shared one; ptb loads in a second, aiogram in several
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "broadcast",
        "--text-file",
        str(_write(tmp_path, "Hello")),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    message = err.decode()
    assert process.returncode == 1, message
    assert "broadcast 1 created for 4 people" in out.decode()
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    assert message.strip().startswith("error: getMe failed") and "check BOT_TOKEN and the network" in message
    assert "broadcast 1 stays queued: a running bot will send it (/broadcast cancel" in message
    assert token not in out.decode() + message
    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as session:
            found = await session.scalar(select(Broadcast))
            assert found is not None and (found.status, found.total) == ("sending", 4)
    finally:
        await db.dispose()
