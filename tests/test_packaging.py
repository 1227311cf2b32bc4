"""``pip install .`` (not editable) gives a bot that runs: the wheel carries the campaigns,
the catalogs, the migrations and the emulator's API description beside the code.

The wheel is built from a copy of the checkout (setuptools' ``build/`` keeps stale files
between builds, and must not be left in the checkout); its contents then run
``i18n preview`` (campaign, catalogs, migrations, the conversation) from another
directory, with the wheel's files first on ``sys.path`` as an installed copy's are. The
demo from a real non-editable install into a fresh venv was checked by hand (README).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "storage", "web")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*_cache", "__pycache__", "build", "dist", "*.egg-info", "tests", "bench"
        ),
    )
    # A compiled catalog left in a checkout (`i18n compile`) may be older than its .po: never shipped.
    (source / "locales" / "de" / "LC_MESSAGES" / "messages.mo").write_bytes(b"stale")
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    built = subprocess.run(  # noqa: S603 - our own interpreter and pip
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (path,) = (work / "dist").glob("undersign-*.whl")
    return path


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _checkout(pattern: str) -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in ROOT.glob(pattern) if "__pycache__" not in path.parts}


def test_the_wheel_carries_the_campaigns_and_every_catalog(wheel: Path) -> None:
    names = _names(wheel)
    campaigns = _checkout("campaigns/*.toml")
    catalogs = _checkout("locales/*/LC_MESSAGES/messages.po")
    assert "campaigns/xinjiang.toml" in campaigns
    assert len(catalogs) >= 17
    assert campaigns <= names
    assert catalogs <= names
    assert not [name for name in names if name.endswith(".mo")]


def test_the_wheel_carries_all_the_code_the_migrations_and_the_emulators_api(wheel: Path) -> None:
    names = _names(wheel)
    code = set().union(*(_checkout(f"{package}/**/*.py") for package in PACKAGES))
    assert code - names == set()
    assert _checkout("storage/migrations/versions/*.py") <= names
    assert "storage/migrations/script.py.mako" in names
    assert [name for name in names if name.endswith("/api.json")]  # the emulator's Bot API description
    # The fonts no package provides, with their licence text and where they came from.
    assert _checkout("storage/exports/vendored_fonts/*") <= names
    assert "storage/exports/vendored_fonts/OFL.txt" in names
    assert not [name for name in names if name.startswith(("tests/", "bench/"))]


def test_the_installed_files_find_their_data_from_elsewhere(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "REDIS_", "DATABASE_"))}
    env.update(PYTHONPATH=str(site), CAMPAIGN="xinjiang")

    def python(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, *args], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=120
        )

    located = python(
        "-c",
        "import bot, petition.campaign as c, handlers.i18n as i; print(bot.__file__, c.CAMPAIGNS_DIR, i.LOCALES_DIR)",
    )
    assert located.returncode == 0, located.stderr
    assert all(Path(path).is_relative_to(site) for path in located.stdout.split()), located.stdout

    preview = python("-m", "bot", "i18n", "preview", "de")
    assert preview.returncode == 0, preview.stderr
    assert "Masseninternierung" in preview.stdout  # the German catalog, compiled from its .po

    assert list(elsewhere.iterdir()) == []


def test_the_container_image_copies_every_package_and_runs_real_commands() -> None:
    """The Dockerfile and compose.yaml cannot be built here (no container runtime): at least
    they must not fall behind the code, a package left out or a command that does not exist."""
    import re
    import tomllib

    from bot.cli import COMMANDS

    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE))
    assert copied == {pattern.rstrip("*") for pattern in included}
    commands = re.findall(r'command: \["(\w+)"', (ROOT / "compose.yaml").read_text())
    assert set(commands) == {"run", "migrate", "web", "purge"} and set(commands) <= set(COMMANDS)
