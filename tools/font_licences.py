"""Where each font of the delivery PDF comes from, and the licence that package states.

The PDF embeds (subsets of) its fonts, so the project redistributes them to
everyone who receives the document. That is allowed for fonts under the SIL
Open Font License 1.1, whose notice must travel with them; it is not something
to take on trust from a package name. ``font_sources`` finds the installed
distribution that owns each font file (through its RECORD, never by guessing
from names), and ``licence_problems`` says what is missing for it to count as
OFL-licensed: the OFL-1.1 licence expression (or classifier) in its metadata
and the licence text among its files. The few fonts no package provides are kept in
``storage/exports/vendored_fonts`` with the licence text and ``SOURCE.toml`` (where they
came from, the licence, each file's SHA-256), which stands in for a package's metadata.
THIRD_PARTY_NOTICES.md lists the result; tests/test_font_licences.py fails if any font
loses either.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont

from storage.exports.fonts import VENDORED, Font, font_files

OFL = "OFL-1.1"
OFL_CLASSIFIER = "License :: OSI Approved :: SIL Open Font License 1.1 (OFL-1.1)"
# Words every copy of the licence text has (its title line and its version).
OFL_TEXT = ("SIL OPEN FONT LICENSE", "Version 1.1")


@dataclass(frozen=True, slots=True)
class FontSource:
    """A font the PDF uses, the distribution that installed it, and what that distribution says."""

    font: Font
    full_name: str
    """The font's own full name (``name`` table, ID 4), e.g. "Noto Sans CJK SC"."""
    copyright: str
    """The font's own copyright notice (``name`` table, ID 0)."""
    distribution: str | None
    version: str | None
    licence: str | None
    """The licence expression (``License-Expression``), else an OFL classifier, else ``License``."""
    licence_files: tuple[Path, ...]
    """The distribution's licence files (``License-File``, or files named LICENSE/OFL), as installed."""


def _field(meta: metadata.PackageMetadata, name: str) -> str | None:
    """A metadata field, or None (``meta[name]`` warns about missing fields on Python 3.12+)."""
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values and str(values[0]).strip() else None


def _licence(meta: metadata.PackageMetadata) -> str | None:
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    if OFL_CLASSIFIER in (meta.get_all("Classifier") or []):
        return OFL
    return _field(meta, "License")


def _licence_files(distribution: metadata.Distribution) -> tuple[Path, ...]:
    declared = {str(name) for name in distribution.metadata.get_all("License-File") or []}
    found = []
    for file in distribution.files or []:
        name = file.name.upper()
        in_licences = "licenses" in file.parts[:-1] and file.parts[-1] in {Path(d).name for d in declared}
        if in_licences or name.startswith(("LICENSE", "LICENCE", "OFL", "COPYING")):
            found.append(Path(str(distribution.locate_file(file))).resolve())
    return tuple(sorted(set(found)))


def _owners(paths: Iterable[Path], distributions: Iterable[metadata.Distribution]) -> dict[Path, metadata.Distribution]:
    """Which distribution's RECORD lists each of ``paths``."""
    wanted = {path.resolve() for path in paths}
    owners: dict[Path, metadata.Distribution] = {}
    for distribution in distributions:
        for file in distribution.files or []:
            if file.suffix.lower() not in {".ttf", ".otf", ".ttc", ".otc"}:
                continue
            located = Path(str(distribution.locate_file(file))).resolve()
            if located in wanted:
                owners.setdefault(located, distribution)
    return owners


def _name(font: Font, name_id: int) -> str:
    face = TTFont(font.path, lazy=True, fontNumber=font.index)
    try:
        return face["name"].getDebugName(name_id) or ""
    finally:
        face.close()


def _vendored(font: Font, directory: Path) -> FontSource | None:
    """``font`` as kept in ``directory`` (``SOURCE.toml`` lists it with its SHA-256), or None."""
    manifest = directory / "SOURCE.toml"
    if font.path.resolve().parent != directory.resolve() or not manifest.is_file():
        return None
    source = tomllib.loads(manifest.read_text(encoding="utf-8"))
    digest = hashlib.sha256(font.path.read_bytes()).hexdigest()
    if source.get("files", {}).get(font.path.name) != digest:
        return None  # not the file that was vendored: it counts as no one's
    return FontSource(
        font=font,
        full_name=_name(font, 4),
        copyright=_name(font, 0),
        distribution=str(source["distribution"]),
        version=str(source["version"]),
        licence=str(source["licence"]),
        licence_files=tuple(sorted(directory.glob("OFL*.txt"))),
    )


def font_sources(
    fonts: Iterable[Font] | None = None,
    distributions: Iterable[metadata.Distribution] | None = None,
    vendored_in: Path = VENDORED,
) -> tuple[FontSource, ...]:
    """Each font the PDF uses (or ``fonts``) with its distribution (or vendored source) and the
    licence it states."""
    faces = tuple(font_files().faces() if fonts is None else fonts)
    owners = _owners(
        (font.path for font in faces), metadata.distributions() if distributions is None else distributions
    )
    sources = []
    for font in faces:
        # A vendored font first: in a non-editable install the project's own RECORD lists it too.
        vendored = _vendored(font, vendored_in)
        if vendored is not None:
            sources.append(vendored)
            continue
        owner = owners.get(font.path.resolve())
        sources.append(
            FontSource(
                font=font,
                full_name=_name(font, 4),
                copyright=_name(font, 0),
                distribution=_field(owner.metadata, "Name") if owner else None,
                version=owner.version if owner else None,
                licence=_licence(owner.metadata) if owner else None,
                licence_files=_licence_files(owner) if owner else (),
            )
        )
    return tuple(sources)


def licence_problems(source: FontSource) -> list[str]:
    """Why ``source`` does not count as an OFL-1.1 font with its licence text; empty when it does."""
    where = f"{source.font.path.name} ({source.distribution or 'no installed package'})"
    if source.distribution is None:
        return [f"{where}: the font is not listed in any installed package's RECORD"]
    problems = []
    if source.licence != OFL:
        problems.append(f"{where}: the package states the licence {source.licence!r}, not {OFL}")
    texts = [path.read_text(encoding="utf-8", errors="replace").upper() for path in source.licence_files]
    if not any(all(word.upper() in text for word in OFL_TEXT) for text in texts):
        problems.append(f"{where}: the package ships no SIL Open Font License 1.1 text")
    return problems


def _declared_licence(meta: metadata.PackageMetadata) -> str:
    """A package's licence in one short line: its expression, else its licence classifiers."""
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return "; ".join(classifiers)
    return (_field(meta, "License") or "not stated").splitlines()[0][:60]


def notice_tables(locks: dict[str, str]) -> str:
    """The font and package tables of THIRD_PARTY_NOTICES.md, from the installed packages.

    ``locks`` maps a lock file's label to its text; a package is listed with the first
    label whose lock pins it (so "run" before "dev").
    """
    lines = [
        "| font (as embedded) | package | version | licence | copyright (from the font) |",
        "|---|---|---|---|---|",
    ]
    for source in font_sources():
        lines.append(
            f"| {source.full_name} | {source.distribution} | {source.version} | {source.licence} | {source.copyright} |"
        )
    pinned: dict[str, str] = {}
    for label, text in locks.items():
        for name in re.findall(r"^([a-z0-9._-]+)==", text, flags=re.MULTILINE):
            pinned.setdefault(name, label)
    installed = {
        name.lower().replace("_", "-"): d for d in metadata.distributions() if (name := _field(d.metadata, "Name"))
    }
    lines += ["", "| package | version | licence (as its metadata states it) | needed for |", "|---|---|---|---|"]
    for name, label in sorted(pinned.items()):
        distribution = installed.get(name)
        if distribution is None:
            lines.append(f"| {name} | (not installed on this platform) | see the package | {label} |")
        else:
            lines.append(f"| {name} | {distribution.version} | {_declared_licence(distribution.metadata)} | {label} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m tools.font_licences: the tables for THIRD_PARTY_NOTICES.md
    root = Path(__file__).resolve().parents[1]
    print(
        notice_tables(
            {"run": (root / "requirements.lock").read_text(), "dev": (root / "requirements-dev.lock").read_text()}
        )
    )
