"""The translators' workflow on a project tree: Babel's own steps, plus a status table.

Every function takes the project root, so tests can run the workflow on a copy.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.cli.errors import EXIT_FAILURE, EXIT_USAGE, CommandError
from handlers.i18n import language_name

ROOT = Path(__file__).resolve().parents[2]
REVIEW_MARK = "Review status:"
# A translator comment (``# Review: …``) on one message whose wording someone asks a native
# speaker to confirm; ``status`` counts them, and the reviewer deletes the comment once done.
CONFIRM_MARK = "Review:"
MISREAD_PREVIOUS = "# | "


def pybabel(root: Path, *args: str) -> None:
    """Run one ``pybabel`` command (Babel's own CLI, so its documentation applies) in ``root``:
    Babel records source paths relative to the working directory, and a child process keeps
    this one's working directory as it was."""
    command = [sys.executable, "-m", "babel.messages.frontend", "--quiet", *args]
    done = subprocess.run(command, cwd=root, check=False)  # noqa: S603 - our own interpreter, fixed arguments
    if done.returncode:  # Babel has printed why
        raise CommandError(f"pybabel {args[0]} failed", EXIT_USAGE if done.returncode == 2 else EXIT_FAILURE)


def extract(root: Path = ROOT) -> Path:
    """Every message of the code and of the campaign text into ``locales/messages.pot``."""
    pybabel(
        root,
        "extract",
        "--mapping-file=locales/babel.cfg",
        "--keywords=gettext ngettext:1,2 gettext_plain",
        "--add-comments=Translators:",
        "--sort-by-file",
        "--project=undersign",
        "--msgid-bugs-address=translations@undersign.invalid",
        "--output-file=locales/messages.pot",
        ".",
    )
    return root / "locales" / "messages.pot"


def update(root: Path = ROOT) -> None:
    """Merge the template into every catalog: changed texts become fuzzy, new ones empty, each
    fuzzy entry with the English it was translated from (``#| msgid``)."""
    pybabel(root, "update", "--input-file=locales/messages.pot", "--output-dir=locales", "--previous")
    for path in catalog_files(root / "locales"):
        _drop_misread_previous(path)


def _drop_misread_previous(path: Path) -> None:
    """Babel reads the second line of a wrapped ``#| msgid`` as a translator's comment and
    writes it back as ``# | …``, where it stays, above whatever message comes to follow it,
    long after the entry was translated. Such lines are never a translator's own."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(MISREAD_PREVIOUS)]
    if len(kept) != len(lines):
        path.write_text("".join(kept), encoding="utf-8")


def init(language: str, root: Path = ROOT) -> Path:
    """A new, empty catalog for ``language`` from the template: its plural forms, every message,
    and the review-status line on top (``draft``); the path of the ``.po``.

    Built with Babel's API rather than ``pybabel init``, which reads the template's two English
    plural forms with the new language's count and warns about every plural message."""
    from babel import Locale, UnknownLocaleError
    from babel.messages.pofile import write_po

    try:
        Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        raise CommandError(f"{language!r} is not a language Babel knows (try de, pt_BR, zh_Hant)", EXIT_USAGE) from None
    path = root / "locales" / language / "LC_MESSAGES" / "messages.po"
    if path.exists():
        raise CommandError(f"{path.relative_to(root)} exists already: `i18n update` brings it up to date", EXIT_USAGE)
    with (root / "locales" / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    catalog = Catalog(
        locale=language,
        domain="messages",
        project="undersign",
        msgid_bugs_address=template.msgid_bugs_address,
        fuzzy=False,
        header_comment=f"# {REVIEW_MARK} draft — not yet reviewed by a native-speaking translator.\n"
        f"# {Locale.parse(language).english_name} translations for undersign.",
    )
    catalog.update(template)
    path.parent.mkdir(parents=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=76)
    return path


def compile_all(root: Path = ROOT) -> None:
    """Build the ``.mo`` files the bot loads (never committed: the run and test commands build them)."""
    if catalog_files(root / "locales"):
        pybabel(root, "compile", "--directory=locales")


def catalog_files(locales_dir: Path) -> list[Path]:
    return sorted(locales_dir.glob("*/LC_MESSAGES/messages.po"))


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=path.parent.parent.name)


def review_status(path: Path) -> str:
    """The catalog's first ``# Review status: …`` comment line, as written by its translators."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            if REVIEW_MARK in line:
                return line.split(REVIEW_MARK, 1)[1].strip()
    return "unknown"


@dataclass(frozen=True, slots=True)
class CatalogStatus:
    locale: str
    name: str
    total: int
    translated: int
    fuzzy: int
    untranslated: int
    review: str
    to_confirm: int = 0

    @property
    def percent(self) -> float:
        return 100.0 * self.translated / self.total if self.total else 100.0


def status(locales_dir: Path) -> list[CatalogStatus]:
    rows = []
    for path in catalog_files(locales_dir):
        catalog = read_catalog(path)
        messages = [m for m in catalog if m.id]
        fuzzy = sum(1 for m in messages if m.fuzzy)
        empty = sum(1 for m in messages if not _translated(m.string))
        locale = path.parent.parent.name
        rows.append(
            CatalogStatus(
                locale=locale,
                name=language_name(locale),
                total=len(messages),
                translated=len(messages) - fuzzy - empty,
                fuzzy=fuzzy,
                untranslated=empty,
                review=review_status(path),
                to_confirm=sum(1 for m in messages if any(c.startswith(CONFIRM_MARK) for c in m.user_comments)),
            )
        )
    return rows


def _translated(string: object) -> bool:
    if isinstance(string, tuple | list):
        return all(string)
    return bool(string)
