"""The command line's shape: lazily loaded commands and its one error policy.

``tests/test_cli.py`` meets the commands as an operator does; this checks what keeps
``python -m bot --help`` instant (no command imports the bot before it runs) and how
every command turns a failure into one line and an exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import COMMANDS, main
from bot.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, Command, CommandError, Group, usage_errors

ROOT = Path(__file__).resolve().parents[1]

# What takes seconds to import, or pulls the bot in: none of it may load for --help.
HEAVY = ("sqlalchemy", "matplotlib", "aiogram", "telegram", "pydantic", "pydantic_settings", "storage", "handlers")
HELP = [[], *([name] for name in COMMANDS), *(["i18n", sub] for sub in ("check", "preview", "compile"))]


def _loaded_by(args: list[str]) -> list[str]:
    """The heavy modules that ``python -m bot ARGS --help`` imports, from a fresh interpreter."""
    script = (
        "import json, sys\n"
        "from bot.cli import main\n"
        "try:\n"
        f"    main({[*args, '--help']!r}, prog_name='python -m bot')\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("args", HELP, ids=lambda a: " ".join(a) or "main")
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    assert _loaded_by(args) == []


@pytest.mark.parametrize("name", COMMANDS)
def test_every_listed_command_loads_under_its_name(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, Command | Group)
    assert command.name == name
    assert command.get_short_help_str() == COMMANDS[name][1]


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 2
    assert "No such command 'nosuch'" in result.output


def test_the_export_formats_written_out_for_help_are_the_exports() -> None:
    from bot.cli.export import FORMATS
    from storage.exports.export import FORMATS as EXPORT_FORMATS

    assert FORMATS == EXPORT_FORMATS


def _command(failure: BaseException, interrupted: str | None = None) -> click.Command:
    @click.command(cls=Command, interrupted=interrupted)
    def failing() -> None:
        raise failure

    return failing


def test_a_command_error_is_one_masked_line_and_its_exit_code() -> None:
    token = "123456:" + "A" * 35  # shaped like a bot token
    result = CliRunner().invoke(_command(CommandError(f"DATABASE_URL is wrong ({token})", 3)))
    assert result.exit_code == 3
    assert result.stderr == "error: DATABASE_URL is wrong (***)\n"
    assert result.stdout == ""


def test_a_command_error_exits_1_unless_told() -> None:
    result = CliRunner().invoke(_command(CommandError("the database is unreachable")))
    assert (result.exit_code, result.stderr) == (1, "error: the database is unreachable\n")


def test_an_interrupt_says_what_it_left_and_exits_130() -> None:
    result = CliRunner().invoke(_command(KeyboardInterrupt(), interrupted="nothing was written"))
    assert (result.exit_code, result.stderr) == (EXIT_INTERRUPTED, "interrupted: nothing was written\n")
    result = CliRunner().invoke(_command(KeyboardInterrupt()))
    assert (result.exit_code, result.stderr) == (EXIT_INTERRUPTED, "")


def test_a_bug_prints_its_traceback_masked_and_exits_1() -> None:
    token = "123456:" + "B" * 35
    result = CliRunner().invoke(_command(ZeroDivisionError(f"a bug near {token}")))
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback")
    assert "ZeroDivisionError: a bug near ***" in result.stderr
    assert token not in result.stderr


def test_a_group_puts_its_commands_under_the_policy() -> None:
    @click.group(cls=Group)
    def tools() -> None:
        """Tools."""

    @tools.command()
    def fail() -> None:
        raise CommandError("no such catalog", EXIT_USAGE)

    assert isinstance(fail, Command)
    result = CliRunner().invoke(tools, ["fail"])
    assert (result.exit_code, result.stderr) == (EXIT_USAGE, "error: no such catalog\n")


def test_a_bad_setting_or_campaign_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import load_settings
    from petition.campaign import load_campaign

    monkeypatch.setenv("BOT_TOKEN", "bad")
    with pytest.raises(CommandError) as bad_setting, usage_errors():
        load_settings()
    assert bad_setting.value.exit_code == EXIT_USAGE
    assert "BOT_TOKEN" in str(bad_setting.value)
    with pytest.raises(CommandError) as bad_campaign, usage_errors():
        load_campaign("no-such-campaign")
    assert bad_campaign.value.exit_code == EXIT_USAGE


def test_a_campaign_file_with_a_key_nothing_reads_is_refused(tmp_path: Path) -> None:
    from petition.campaign import CAMPAIGNS_DIR, CampaignError, load_campaign

    copy = tmp_path / "letter.toml"
    original = (CAMPAIGNS_DIR / "xinjiang.toml").read_text(encoding="utf-8")
    copy.write_text(original.replace("goal = ", "gaol = 1\ngoal = ", 1), encoding="utf-8")
    with pytest.raises(CampaignError, match="unknown key gaol"):
        load_campaign(str(copy))
    copy.write_text(original, encoding="utf-8")
    assert load_campaign(str(copy)).goal == 100000


def test_a_reader_that_stops_reading_is_no_error() -> None:
    """``python -m bot i18n status | head -1``: no traceback for the closed pipe."""
    result = CliRunner().invoke(_command(BrokenPipeError()))
    assert (result.exit_code, result.stderr) == (1, "")


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """No traceback, not even Python's complaint when it flushes stdout at exit."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "i18n", "status"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (1, "")
