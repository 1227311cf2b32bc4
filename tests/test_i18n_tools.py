"""The translators' tools: check, status, preview, and the extract/update cycle.

``check`` must pass on the real catalogs and fail, naming file, line and message,
on seeded broken copies; an edit of the English letter must come back fuzzy in
every language.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from click.testing import CliRunner

from bot.cli.errors import CommandError
from bot.cli.i18n import i18n
from bot.translations import catalogs
from bot.translations.check import Problem, check_catalog, check_conversation, report_once
from handlers.i18n import LOCALES_DIR

ROOT = catalogs.ROOT


@pytest.fixture
def broken_copy(tmp_path: Path) -> Callable[[str, Callable[[Catalog], None]], Path]:
    """A copy of the catalogs with one catalog changed by ``breaker``; its .po path."""
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales, ignore=shutil.ignore_patterns("*.mo"))

    def breaker(locale: str, change: Callable[[Catalog], None]) -> Path:
        path = locales / locale / "LC_MESSAGES" / "messages.po"
        catalog = catalogs.read_catalog(path)
        change(catalog)
        with path.open("wb") as handle:
            write_po(handle, catalog)
        return path

    return breaker


def problems_for(path: Path, msgid: str) -> list[str]:
    return [p.what for p in check_catalog(path) if p.msgid == msgid and p.where.startswith(f"{path}:")]


def test_a_missing_placeholder_is_named(broken_copy: Callable[..., Path]) -> None:
    def drop(catalog: Catalog) -> None:
        catalog["Sign as {name}"].string = "Unterschreiben"

    path = broken_copy("de", drop)
    assert problems_for(path, "Sign as {name}") == ["missing placeholder {name}"]


async def test_an_unknown_placeholder_is_named_and_breaks_the_rehearsal(broken_copy: Callable[..., Path]) -> None:
    def add(catalog: Catalog) -> None:
        catalog["Sign as {name}"].string = "Als {vorname} unterschreiben"

    path = broken_copy("de", add)
    assert problems_for(path, "Sign as {name}") == ["unknown placeholder {vorname}", "missing placeholder {name}"]
    rehearsal = await check_conversation("de", path.parent.parent.parent)
    assert any("the bot failed" in p.what for p in rehearsal)


def test_a_bad_tag_is_named(broken_copy: Callable[..., Path]) -> None:
    msgid = "Country: {country}"

    def bad(catalog: Catalog) -> None:
        catalog[msgid].string = "Land: <b>{country}"

    path = broken_copy("de", bad)
    found = problems_for(path, msgid)
    assert "HTML tags ['b'] differ from the English []" in found
    assert any(p.startswith("Telegram would refuse it:") and "can't parse entities" in p for p in found)


def test_a_tag_telegram_does_not_know_is_named(broken_copy: Callable[..., Path]) -> None:
    def bad(catalog: Catalog) -> None:
        catalog["Not now"].string = "<div>Nicht jetzt</div>"

    path = broken_copy("de", bad)
    found = problems_for(path, "Not now")
    assert any("differ from the English" in p for p in found)
    assert any('Unsupported start tag "div"' in p for p in found)


def test_a_missing_plural_form_is_named(broken_copy: Callable[..., Path]) -> None:
    msgid = ("{n} person has signed", "{n} people have signed")

    def drop(catalog: Catalog) -> None:
        string = catalog[msgid].string
        assert isinstance(string, (tuple, list))  # a plural message: one form per plural
        forms = list(string)
        forms[-1] = ""
        catalog[msgid].string = tuple(forms)

    path = broken_copy("ru", drop)
    assert problems_for(path, msgid[0]) == ["a plural form is missing"]


def test_a_header_with_too_few_plural_forms_is_named(broken_copy: Callable[..., Path]) -> None:
    def one_form(catalog: Catalog) -> None:
        catalog.mime_headers = [("Plural-Forms", "nplurals=1; plural=0;")]  # as a translator might write it

    path = broken_copy("ru", one_form)
    assert any("declares 1 plural forms; ru has 3" in p.what for p in check_catalog(path))


def test_an_over_long_button_label_is_named(broken_copy: Callable[..., Path]) -> None:
    label = "Nein danke, vielleicht ein anderes Mal, wenn ich Zeit habe"

    def long(catalog: Catalog) -> None:
        catalog["Not now"].string = label

    path = broken_copy("de", long)
    assert problems_for(path, "Not now") == [f"button label of {len(label)} characters would be cut (at most 40)"]


def test_an_over_long_pop_up_is_named(broken_copy: Callable[..., Path]) -> None:
    msgid = "Please choose a country from the list, or type its name."
    text = " ".join(["Bitte wählen Sie ein Land aus der Liste."] * 5)  # 204 characters

    def long(catalog: Catalog) -> None:
        catalog[msgid].string = text

    path = broken_copy("de", long)
    assert problems_for(path, msgid) == [f"pop-up of {len(text)} characters (Telegram allows 200)"]


async def test_a_caption_telegram_would_refuse_is_found_by_the_rehearsal(broken_copy: Callable[..., Path]) -> None:
    def bad(catalog: Catalog) -> None:
        catalog["Signatures per day and in total"].string = "Unterschriften <b>pro Tag"

    path = broken_copy("de", bad)
    rehearsal = await check_conversation("de", path.parent.parent.parent)
    refused = [p for p in rehearsal if "can't parse entities" in p.what]
    assert refused and refused[0].msgid == "Signatures per day and in total"  # found in the catalog
    assert refused[0].where.startswith(f"{path}:") and refused[0].step == "de: after “/stats”"


async def _checked(path: Path, root: Path) -> list[Problem]:
    """What ``i18n check`` reports for one language: both passes, each problem once."""
    locales = path.parent.parent.parent
    return report_once([*check_catalog(path, root), *await check_conversation("de", locales, root=root)])


async def test_a_pop_up_too_long_in_any_state_is_named_once_with_file_and_line(
    broken_copy: Callable[..., Path], tmp_path: Path
) -> None:
    """The German "you have not signed" pop-up was refused by Telegram when a news or name button
    was pressed before signing; no comment said it was a pop-up, so only a rehearsal of every
    button in every state can see it."""
    msgid = "You have not signed this letter. Send /start to read it and sign."
    text = "Sie haben diesen Brief noch nicht unterschrieben. " * 4 + "Senden Sie /start, um ihn zu lesen."

    def spoil(catalog: Catalog) -> None:
        catalog[msgid].string = text
        catalog[msgid].auto_comments = []  # as if no one had said it is a pop-up

    path = broken_copy("de", spoil)
    found = [p for p in await _checked(path, tmp_path) if p.msgid == msgid]
    assert len(found) == 1, found
    assert found[0].where.startswith("locales/de/LC_MESSAGES/messages.po:")
    assert "MESSAGE_TOO_LONG" in found[0].what and found[0].step == "de: after “[presses nfchange]”"


async def test_what_only_several_campaigns_show_is_rehearsed_too(
    broken_copy: Callable[..., Path], tmp_path: Path
) -> None:
    """The choice of letters appears only when several campaigns are live (none is, here): the
    rehearsal makes copies of the campaign to show it, and a broken translation of it is named."""
    msgid = "Which letter would you like to read?"

    def spoil(catalog: Catalog) -> None:
        catalog[msgid].string = "Welchen Brief möchten Sie lesen? " * 130  # a message Telegram refuses

    path = broken_copy("de", spoil)
    assert [p for p in check_catalog(path) if p.msgid == msgid] == []  # one message alone is not too long
    rehearsal = await check_conversation("de", path.parent.parent.parent, root=tmp_path)
    # Only the choice of letters shows it, and only a rehearsal with several campaigns reaches it.
    found = [p for p in rehearsal if p.msgid == msgid]
    assert len(found) == 1 and "message is too long" in found[0].what and found[0].step == "de: after “/start”"


async def test_a_broken_ampersand_is_named_once_with_file_and_line(
    broken_copy: Callable[..., Path], tmp_path: Path
) -> None:
    msgid = "Country: {country}"

    def spoil(catalog: Catalog) -> None:
        catalog[msgid].string = "Land & Leute: {country}"

    path = broken_copy("de", spoil)
    problems = await _checked(path, tmp_path)
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].msgid == msgid and problems[0].where.startswith("locales/de/LC_MESSAGES/messages.po:")


def test_fuzzy_and_untranslated_are_named(broken_copy: Callable[..., Path]) -> None:
    def spoil(catalog: Catalog) -> None:
        catalog["Not now"].flags.add("fuzzy")
        catalog["No, keep it"].string = ""

    path = broken_copy("fr", spoil)
    assert problems_for(path, "Not now")[0].startswith("fuzzy")
    assert problems_for(path, "No, keep it") == ["untranslated (English shown meanwhile)"]
    # Work still to do warns; it does not fail the check as a broken translation does.
    assert not any(problem.breaks for problem in check_catalog(path))


def test_a_language_under_the_threshold_is_not_offered_until_translated(broken_copy: Callable[..., Path]) -> None:
    from handlers.i18n import I18n, completeness

    def half_done(catalog: Catalog) -> None:
        for number, message in enumerate(message for message in catalog if message.id):
            if number % 2:
                message.string = "" if isinstance(message.string, str) else tuple("" for _ in message.string or ())

    path = broken_copy("de", half_done)
    locales = path.parent.parent.parent
    assert 45 < completeness(locales, "de") < 55
    partial = I18n(locales, min_complete=90)
    assert "de" not in partial.locales and partial.not_yet == ("de",)
    assert partial.match("de-AT") == "en"  # the picker and the guess from Telegram skip it
    assert "de" in I18n(locales, min_complete=40).locales


def _copy_sources(target: Path) -> None:
    """What ``i18n extract`` reads (babel.cfg's mapping) and the catalogs, into ``target``."""
    for part in ("handlers", "bot", "web", "petition", "campaigns", "locales"):
        shutil.copytree(ROOT / part, target / part, ignore=shutil.ignore_patterns("*.mo", "__pycache__"))


def _without_dates(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith('"POT-Creation-Date:'))


def test_the_committed_catalogs_are_extracted_from_the_code_as_it_is(tmp_path: Path) -> None:
    """A message changed in the code without `i18n extract` and `update` fails here, not in a translator's clone."""
    _copy_sources(tmp_path)
    catalogs.extract(tmp_path)
    catalogs.update(tmp_path)
    stale = [
        path.relative_to(tmp_path).as_posix()
        for path in [tmp_path / "locales" / "messages.pot", *catalogs.catalog_files(tmp_path / "locales")]
        if _without_dates(path.read_text()) != _without_dates((ROOT / path.relative_to(tmp_path)).read_text())
    ]
    assert stale == [], "run `python -m bot i18n extract` and `python -m bot i18n update`, then commit"


def test_an_edit_of_the_english_letter_comes_back_fuzzy_everywhere(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    letter = tmp_path / "campaigns" / "xinjiang.toml"
    old = "The human suffering has been immense."
    letter.write_text(letter.read_text().replace(old, "The human suffering has been immense and lasting."))

    catalogs.extract(tmp_path)
    catalogs.update(tmp_path)

    files = catalogs.catalog_files(tmp_path / "locales")
    assert len(files) == 17
    for path in files:
        fuzzy = [p for p in check_catalog(path) if p.what.startswith("fuzzy")]
        assert [p.msgid[:40] for p in fuzzy] == ["Since 2017, the government of China has "], path
        assert "#| msgid" in path.read_text(encoding="utf-8")  # the English it was translated from

    # The translators confirm their translations; the next update leaves no trace of the old English
    # (Babel misreads a wrapped "#|" line as a comment of theirs and would keep it for ever).
    for path in files:
        path.write_text(path.read_text(encoding="utf-8").replace("#, fuzzy\n", ""), encoding="utf-8")
    catalogs.update(tmp_path)
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert not [line for line in lines if line.startswith(("#|", "# |"))], path


def test_status_lists_every_language_with_its_review_status() -> None:
    result = CliRunner().invoke(i18n, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:-1]  # under the header, above the note on the threshold
    assert len(lines) == 17
    assert all("100.0 %" in line and "offered" in line and "draft" in line for line in lines)
    assert any(line.startswith("ug (ئۇيغۇرچە)") for line in lines)
    assert "TRANSLATION_THRESHOLD" in result.output
    assert "to confirm" in result.output.splitlines()[0]


def test_status_counts_the_messages_whose_wording_waits_for_a_native_speaker(tmp_path: Path) -> None:
    status = catalogs.status
    shutil.copytree(LOCALES_DIR / "ar", tmp_path / "ar")
    po = tmp_path / "ar" / "LC_MESSAGES" / "messages.po"
    before = {row.locale: row.to_confirm for row in status(tmp_path)}["ar"]
    assert before >= 1  # the letter's wording fixes wait for a native speaker
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace("# Review: ", "# Reviewed and confirmed: ", 1), encoding="utf-8")
    assert {row.locale: row.to_confirm for row in status(tmp_path)}["ar"] == before - 1


def test_preview_prints_the_whole_conversation_in_that_language() -> None:
    result = CliRunner().invoke(i18n, ["preview", "de"])
    assert result.exit_code == 0, result.output
    for shown in ("[✅ Ich stimme zu und unterschreibe]", "Datenschutzhinweis", "Ihre Unterschrift wurde gelöscht"):
        assert shown in result.output
    assert "!! the bot failed" not in result.output
    assert CliRunner().invoke(i18n, ["preview", "xx"]).exit_code != 0
    # Telegram's spelling of a language finds its catalog too.
    chinese = CliRunner().invoke(i18n, ["preview", "zh-TW"])
    assert chinese.exit_code == 0 and "簽署這封信" in chinese.output


def test_check_command_passes_and_says_so() -> None:
    """The command runs ``check_all`` and lists each problem in its output; a translator may
    name their own languages. Every real catalog is checked by ``python3 dev.py test`` itself,
    before pytest (``i18n check``, 18 s): here two languages, one of them right to left."""
    result = CliRunner().invoke(i18n, ["check", "de", "ug"])
    assert result.exit_code == 0, result.output
    assert "All 2 catalogs are fine." in result.output
    unknown = CliRunner().invoke(i18n, ["check", "xx"])
    assert unknown.exit_code == 2 and "no catalog for xx (there are: ar, de," in unknown.output


def test_a_new_language_starts_clean_and_is_not_offered_until_translated(tmp_path: Path) -> None:
    from handlers.i18n import I18n

    _copy_sources(tmp_path)
    path = catalogs.init("ja", tmp_path)
    text = path.read_text()
    assert text.startswith("# Review status: draft") and "#, fuzzy" not in text
    assert "Plural-Forms: nplurals=1; plural=0;" in text and "msgstr[1]" not in text  # Japanese: one form
    problems = check_catalog(path)
    assert problems and not any(problem.breaks for problem in problems)  # all to do, nothing broken
    assert I18n(tmp_path / "locales").not_yet == ("ja",)
    with pytest.raises(CommandError, match="exists already"):
        catalogs.init("ja", tmp_path)
    with pytest.raises(CommandError, match="not a language"):
        catalogs.init("klingon", tmp_path)
