"""Every font the delivery PDF embeds comes from a package that states the SIL Open Font License.

The PDF goes to the addressees with subsets of its fonts inside, so a font whose
licence nobody stated (as cvttf-NotoSansCJK-Regular did: "License: UNKNOWN")
must not come back through a later change. The check reads the installed
packages' RECORD and metadata, not package names; the fake packages below show
that it fails for a font without the licence.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, PdfObject

from petition.campaign import load_campaign
from storage.db import Database
from storage.exports.export import export_signatures
from storage.exports.fonts import CJK_FACE, VENDORED, Font, font_files
from storage.signatures import add_signature
from tools.font_licences import OFL, font_sources, licence_problems

ROOT = Path(__file__).resolve().parent.parent
NOTICES = ROOT / "THIRD_PARTY_NOTICES.md"


def test_every_pdf_font_comes_from_a_package_that_states_the_ofl_and_ships_its_text() -> None:
    sources = font_sources()
    # Noto Sans, Arabic, CJK, 17 scripts from packages, 4 vendored (Tibetan, Thaana, Mongolian, Syriac), symbols, emoji
    assert len(sources) == len(font_files().faces()) == 26
    assert [problem for source in sources for problem in licence_problems(source)] == []
    for source in sources:
        assert source.licence == OFL
        # The font says so itself too (name ID 13 of every Noto font).
        assert "Open Font License" in _license_description(source.font), source.font.path


def test_the_cjk_font_is_the_simplified_chinese_face_of_noto_sans_cjk() -> None:
    cjk = {source.full_name: source for source in font_sources()}[CJK_FACE]
    assert cjk.distribution == "noto-cjk-sans-otc"
    assert cjk.font.path.suffix == ".ttc" and cjk.font.index > 0  # not just the collection's first face
    assert "Adobe" in cjk.copyright


def test_the_check_fails_for_a_font_whose_package_states_no_licence(tmp_path: Path) -> None:
    unlicensed = _fake_distribution(tmp_path / "a", "unlicensed-fonts", ["License: UNKNOWN"], licence_text=None)
    [source] = font_sources(
        [unlicensed], [metadata.PathDistribution(tmp_path / "a" / "unlicensed_fonts-1.0.dist-info")]
    )
    assert source.distribution == "unlicensed-fonts" and source.licence == "UNKNOWN"
    problems = licence_problems(source)
    assert len(problems) == 2
    assert "not OFL-1.1" in problems[0] and "no SIL Open Font License 1.1 text" in problems[1]


def test_the_check_fails_for_an_ofl_claim_without_the_licence_text(tmp_path: Path) -> None:
    claimed = _fake_distribution(tmp_path / "b", "claimed-fonts", ["License-Expression: OFL-1.1"], licence_text="MIT")
    [source] = font_sources([claimed], [metadata.PathDistribution(tmp_path / "b" / "claimed_fonts-1.0.dist-info")])
    assert source.licence == OFL
    assert licence_problems(source) == ["Fake.ttf (claimed-fonts): the package ships no SIL Open Font License 1.1 text"]


def test_the_check_fails_for_a_font_no_package_installed(tmp_path: Path) -> None:
    loose = tmp_path / "Loose.ttf"
    shutil.copy(font_files().main, loose)
    [source] = font_sources([Font("Loose", loose)])
    assert licence_problems(source) == [
        "Loose.ttf (no installed package): the font is not listed in any installed package's RECORD"
    ]


def test_a_vendored_font_counts_only_as_the_file_its_source_lists(tmp_path: Path) -> None:
    """The fonts kept in the repository (no package provides them) carry their licence text and
    a SOURCE.toml naming each file's SHA-256: a changed or unlisted file is no one's."""
    vendored = [source for source in font_sources() if source.font.path.parent == VENDORED]
    assert [source.full_name for source in vendored] == [
        "Noto Serif Tibetan Regular",
        "Noto Sans Thaana Regular",
        "Noto Sans Mongolian Regular",
        "Noto Sans Syriac Regular",
    ]
    assert all(source.licence == OFL and not licence_problems(source) for source in vendored)
    notice = (VENDORED / "OFL.txt").read_text(encoding="utf-8")
    for source in vendored:  # the OFL's condition: each font's copyright notice travels with it
        assert source.copyright.split(". All Rights")[0] in notice, source.copyright
    copy = tmp_path / "vendored_fonts"
    shutil.copytree(VENDORED, copy)
    changed = copy / "NotoSansThaana-Regular.ttf"
    changed.write_bytes(changed.read_bytes() + b"\0")  # not the file that was vendored
    [source] = font_sources([Font("NotoSansThaana", changed)], [], vendored_in=copy)
    assert licence_problems(source) == [
        "NotoSansThaana-Regular.ttf (no installed package): the font is not listed in any installed package's RECORD"
    ]
    (copy / "OFL.txt").write_text("All rights reserved.", encoding="utf-8")  # the licence text gone
    [source] = font_sources([Font("NotoSansSyriac", copy / "NotoSansSyriac-Regular.ttf")], [], vendored_in=copy)
    assert licence_problems(source) == [
        "NotoSansSyriac-Regular.ttf (fonts-noto-core (Debian), vendored): the package ships no SIL Open Font "
        "License 1.1 text"
    ]


def test_the_notice_lists_each_font_package_at_its_installed_version() -> None:
    notice = NOTICES.read_text(encoding="utf-8")
    for source in font_sources():
        assert f"| {source.distribution} | {source.version} |" in notice, source.distribution
        assert source.full_name in notice
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "THIRD_PARTY_NOTICES.md" in readme and "python3 dev.py lock" in readme


def test_both_locks_pin_every_package_with_hashes_and_the_build_requirements() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    build_in = [line for line in (ROOT / "requirements-build.in").read_text().splitlines() if line and line[0] != "#"]
    assert build_in == build
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 2)[2])
        assert len(entries) > 50
        for entry in entries:
            assert re.match(r"[a-z0-9._-]+==\S+", entry) and "--hash=sha256:" in entry, entry[:80]
        assert re.search(r"^setuptools==", text, flags=re.MULTILINE)
        for unlicensed in ("cvttf", "manimgx-fonts-cjk"):
            assert unlicensed not in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the fonts do not depend on the backend
async def test_pdf_prints_chinese_uyghur_kazakh_and_tibetan_names_in_the_licensed_fonts(
    database: Database, tmp_path: Path
) -> None:
    names = [
        ("王小明", "CN", "zh"),
        ("阿依古丽", "CN", "zh"),
        ("ئايگۈل مەمەت", "CN", "ug"),
        ("Айгүл Мәмет", "KZ", "kk"),
        ("བཀྲ་ཤིས་", "CN", "bo"),  # the vendored fonts: Tibetan, Thaana, Mongolian, Syriac
        ("ދިވެހި", "MV", "dv"),
        ("ᠪᠠᠲᠤ", "CN", "mn"),
        ("ܐܦܪܝܡ", "SY", "syr"),
    ]
    for offset, (name, country, language) in enumerate(names):
        await add_signature(
            database,
            campaign="xinjiang",
            user_id=7_100_000_001 + offset,
            name=name,
            country=country,
            language=language,
            source=None,
            opt_in=False,
            letter_version="letter-1",
            consent_version="consent-1",
        )
    out = tmp_path / "exports"
    out.mkdir()
    result = await export_signatures(database, load_campaign("xinjiang"), "pdf", out)
    assert result.incomplete_names == 0
    reader = PdfReader(result.path)
    # CJK glyphs come out of pypdf with NULs between them (see _pdf_text in test_exports.py).
    text = "".join(
        c for c in "".join(page.extract_text() for page in reader.pages) if c.isprintable() and not c.isspace()
    )
    for word in ("王小明", "阿依古丽", "АйгүлМәмет", "مەمەت"):
        assert word in text, word
    fonts = [
        _dictionary(font)
        for page in reader.pages
        for font in _dictionary(_dictionary(page["/Resources"])["/Font"]).values()
    ]
    embedded = {str(font["/BaseFont"]).split("+", 1)[-1] for font in fonts if "/BaseFont" in font}
    assert "NotoSansCJKSC" in embedded  # the simplified-Chinese face of the collection, not its first (JP)
    assert any(name.startswith("NotoSansArabic") for name in embedded)
    for family in ("NotoSerifTibetan", "NotoSansThaana", "NotoSansMongolian", "NotoSansSyriac"):
        assert any(name.startswith(family) for name in embedded), (family, embedded)


def _dictionary(value: PdfObject) -> DictionaryObject:
    """A PDF dictionary, through its indirect reference if it is one."""
    resolved = value.get_object()
    assert isinstance(resolved, DictionaryObject), resolved
    return resolved


def _license_description(font: Font) -> str:
    from fontTools.ttLib import TTFont

    face = TTFont(font.path, lazy=True, fontNumber=font.index)
    try:
        return face["name"].getDebugName(13) or ""
    finally:
        face.close()


def _fake_distribution(root: Path, name: str, licence_lines: list[str], licence_text: str | None) -> Font:
    """A package installed in ``root`` with one font (a copy of Noto Sans) and the given licence metadata."""
    package = name.replace("-", "_")
    (root / package).mkdir(parents=True)
    shutil.copy(font_files().main, root / package / "Fake.ttf")
    info = root / f"{package}-1.0.dist-info"
    (info / "licenses").mkdir(parents=True)
    record = [f"{package}/Fake.ttf,,"]
    if licence_text is not None:
        (info / "licenses" / "LICENSE").write_text(licence_text)
        record.append(f"{info.name}/licenses/LICENSE,,")
        licence_lines = [*licence_lines, "License-File: LICENSE"]
    (info / "METADATA").write_text(
        "\n".join(["Metadata-Version: 2.4", f"Name: {name}", "Version: 1.0", *licence_lines]) + "\n"
    )
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return Font("Fake", root / package / "Fake.ttf")
