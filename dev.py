#!/usr/bin/env python3
"""One-command setup for people with nothing but Python 3.11+.

    python3 dev.py run     # create .venv, install, compile catalogs, start the bot
                           # (no BOT_TOKEN: a local Telegram emulator and a terminal chat)
    python3 dev.py test    # the same setup plus dev tools, then lint, type-check, catalog check, tests
                           # (in parallel: TEST_WORKERS processes, 4 unless set; -n 0 runs serially)
    python3 dev.py test tests/test_x.py [-n 4]   # a selection, serial unless -n is given
    python3 dev.py lock    # regenerate requirements.lock and requirements-dev.lock (pinned, with hashes)
                           # from pyproject.toml; add --upgrade or --upgrade-package NAME to move pins

Only the standard library is used here: this file must work before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def sh(*args: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check, env=env).returncode  # noqa: S603


# Both locks are compiled from pyproject.toml plus this file (the project's own build requirements).
LOCKS = {"requirements.lock": [], "requirements-dev.lock": ["--extra", "dev"]}
BUILD_REQUIREMENTS = "requirements-build.in"


def ensure_venv(lock: str) -> None:
    """Create .venv and install the locked dependencies; re-install only when the lock changes.

    Every file pip installs must match a hash in the lock (``--require-hashes``) and be a
    wheel (``--only-binary``: building an sdist would fetch its build tools unchecked). The
    project itself cannot be hashed, so it is installed on its own, without dependencies and
    built by the setuptools the lock just installed (``--no-build-isolation``).
    """
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before anything checks the version
        sys.exit(f"undersign needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    lock_path = ROOT / lock
    stamp = VENV / f".installed-{lock}"
    digest = hashlib.sha256(lock_path.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    say(f"installing dependencies from {lock} (hash-checked)")
    quiet = [] if os.environ.get("CI") else ["--quiet"]
    pip = [PYTHON, "-m", "pip", "install", *quiet, "--disable-pip-version-check"]
    sh(*pip, "--require-hashes", "--only-binary", ":all:", "-r", lock_path)
    sh(*pip, "--no-deps", "--no-build-isolation", "-e", ".")
    stamp.write_text(digest)


def lock(args: list[str]) -> int:
    """Regenerate both lock files with uv (a dev dependency), keeping their pins unless told to move them."""
    ensure_venv("requirements-dev.lock")
    for name, extras in LOCKS.items():
        say(f"locking {name}")
        command: list[str | Path] = [
            *(BIN / "uv", "pip", "compile", "pyproject.toml", BUILD_REQUIREMENTS, *extras),
            *("--universal", "--python-version", "3.11", "--generate-hashes", "--quiet"),
            *("--custom-compile-command", "python3 dev.py lock", "-o", name, *args),
        ]
        if sh(*command, check=False) != 0:
            say(f"locking {name} failed")
            return 1
    return 0


def compile_catalogs() -> None:
    sh(PYTHON, "-m", "bot", "i18n", "compile")


def run(args: list[str]) -> int:
    ensure_venv("requirements.lock")
    compile_catalogs()
    # The bot reads BOT_TOKEN from the environment or .env; without one it starts the demo.
    return sh(PYTHON, "-m", "bot", "run", "--demo-without-token", *args, check=False)


def test(args: list[str]) -> int:
    ensure_venv("requirements-dev.lock")
    compile_catalogs()
    steps: list[tuple[str, list[str | Path]]] = [
        ("ruff check", [BIN / "ruff", "check", "."]),
        ("ruff format --check", [BIN / "ruff", "format", "--check", "."]),
        (
            "mypy",
            [
                PYTHON,
                "-m",
                "mypy",
                "bot",
                "emulator",
                "handlers",
                "petition",
                "storage",
                "web",
                "tests",
                "bench",
                "tools",
            ],
        ),
        ("i18n check", [PYTHON, "-m", "bot", "i18n", "check"]),
    ]
    if not args:  # a focused run (python3 dev.py test tests/test_x.py) skips the static checks
        for name, command in steps:
            say(name)
            if sh(*command, check=False) != 0:
                say(f"{name} failed")
                return 1
    if not (os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")):
        say("no Chromium: the browser tests will skip (Debian/Ubuntu: apt install chromium; or set CHROMIUM)")
    say("pytest")
    return sh(PYTHON, "-m", "pytest", *parallel(args), *args, check=False)


# Most tests wait on HTTP between the bot and the emulator, not on the CPU: on 2 cores,
# 4 worker processes (pytest-xdist) finish the suite fastest (measured: see the README).
TEST_WORKERS = "4"


def parallel(args: list[str]) -> list[str]:
    """``-n`` for pytest-xdist on the whole suite (or when TEST_WORKERS is set). A focused run
    stays serial (starting 4 workers costs more than a file of tests) unless it passes ``-n``."""
    chosen = any(a in ("--pdb", "no:xdist") or a.startswith(("-n", "--numprocesses")) for a in args)
    focused = any((ROOT / a.split("::")[0]).exists() for a in args if not a.startswith("-"))
    workers = os.environ.get("TEST_WORKERS") or (None if focused else TEST_WORKERS)
    return [] if chosen or workers is None else ["-n", workers]


def main() -> int:
    commands = {"run": run, "test": test, "lock": lock}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as error:
        say(f"setup step failed (exit {error.returncode}): {' '.join(map(str, error.cmd))}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
