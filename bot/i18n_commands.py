"""``python -m bot i18n ...``: the translators' workflow, wrapping Babel's own commands."""

from __future__ import annotations

import os
from pathlib import Path

import click
from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
POT = LOCALES / "messages.pot"


def pybabel(*args: str) -> None:
    """Run one ``pybabel`` command in-process (Babel's own CLI, so its docs apply).

    It runs from the project root so that the catalogs record relative source paths.
    """
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        CommandLineInterface().run(["pybabel", "--quiet", *args])  # type: ignore[no-untyped-call]
    finally:
        os.chdir(previous)


@click.group()
def i18n() -> None:
    """Extract, update, compile and check the translation catalogs (see locales/README.md)."""


@i18n.command()
def extract() -> None:
    """Collect every message of the bot and the campaign text into locales/messages.pot."""
    pybabel(
        "extract",
        "--mapping-file",
        str(LOCALES / "babel.cfg"),
        "--keywords",
        "gettext ngettext:1,2",
        "--add-comments",
        "Translators:",
        "--sort-by-file",
        "--project",
        "undersign",
        "--msgid-bugs-address",
        "translations@undersign.invalid",
        "--output-file",
        str(POT.relative_to(ROOT)),
        ".",
    )
    click.echo(f"wrote {POT.relative_to(ROOT)}")


@i18n.command()
def update() -> None:
    """Merge messages.pot into every catalog (changed texts become fuzzy)."""
    pybabel("update", "--input-file", str(POT), "--output-dir", str(LOCALES), "--previous")


@i18n.command()
@click.argument("language")
def init(language: str) -> None:
    """Start a catalog for LANGUAGE (for example pt_BR or zh_Hant)."""
    pybabel("init", "--input-file", str(POT), "--output-dir", str(LOCALES), "--locale", language)


@i18n.command(name="compile")
def compile_() -> None:
    """Build the .mo files the bot loads (done by the run and test commands)."""
    if not any(LOCALES.glob("*/LC_MESSAGES/messages.po")):
        return
    pybabel("compile", "--directory", str(LOCALES))
