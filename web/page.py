"""The public campaign page: the case in a few lines, the live count, the way into the bot.

Plain HTML and CSS, readable without JavaScript: the title, the first paragraph of
the background, how many have signed against the goal (a ``<progress>`` element, so
screen readers announce it), the "Sign the letter" link into Telegram with the
page's source, its QR code, and the other languages. The words are the bot's own
catalog entries; ``lang`` and ``dir`` follow the language shown. Colours and sizes
are CSS variables, so a campaign restyles it in one place.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from handlers.i18n import Translator
from petition.campaign import Campaign

STYLE = """
:root { --accent: #ffd100; --ink: #111; --paper: #fff; --muted: #555; --bar: #e6e6e6; --width: 40rem; }
* { box-sizing: border-box; }
body { margin: 0; font: 1.05rem/1.55 system-ui, "Noto Sans", sans-serif; color: var(--ink); background: var(--paper); }
main { max-width: var(--width); margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 1rem; }
.count { font-size: 1.15rem; margin: 1.5rem 0 .4rem; }
progress { width: 100%; height: 1.1rem; accent-color: var(--ink); }
.sign { display: inline-block; margin: 1.25rem 0; padding: .8rem 1.4rem; border-radius: .5rem;
        background: var(--accent); color: var(--ink); font-weight: 700; text-decoration: none; }
.sign:focus, .sign:hover { outline: 3px solid var(--ink); outline-offset: 2px; }
figure { margin: 0 0 1.5rem; }
figure img { width: 12rem; height: 12rem; }
figcaption, nav { color: var(--muted); font-size: .95rem; word-break: break-all; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1rem; }
nav a { color: var(--ink); }
nav h2 { font-size: 1rem; margin: 0; }
details { margin-top: 1.5rem; color: var(--muted); }
pre { white-space: pre-wrap; word-break: break-all; background: #f4f4f4; padding: .6rem; font-size: .85rem; }
"""


@dataclass(frozen=True, slots=True)
class Snippets:
    """What a campaign site pastes to show the count (``web.widget``)."""

    iframe: str
    script: str


@dataclass(frozen=True, slots=True)
class Language:
    locale: str
    name: str  # in itself: "Deutsch", "العربية"
    url: str


@dataclass(frozen=True)
class IndexEntry:
    """One campaign in the list of campaigns: its count, its page, and its end if it has closed."""

    campaign: Campaign
    count: int
    url: str
    closed_on: date | None = None


def language_tag(locale: str) -> str:
    """A catalog's name as HTML and HTTP write a language: ``zh_Hant`` → ``zh-Hant``."""
    return locale.replace("_", "-")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def render_page(
    t: Translator,
    campaign: Campaign,
    *,
    count: int,
    link: str,
    qr_url: str,
    languages: Sequence[Language],
    snippets: Snippets,
) -> str:
    """The page in ``t``'s language. Catalog texts are HTML already (``Translator`` escapes
    what it fills in); everything else here is escaped."""
    signed = t.ngettext("{n} person has signed", "{n} people have signed", count)
    goal = t.gettext("goal {goal}", goal=campaign.goal)
    percent = t.percent(count, campaign.goal)
    # Translators: the text alternative of the QR code on the campaign's web page.
    qr_alt = t.gettext("QR code: scan it with a phone to open the letter in Telegram")
    others = "".join(
        f'<li><a href="{_e(language.url)}" lang="{_e(language_tag(language.locale))}" hreflang="'
        f'{_e(language_tag(language.locale))}">{_e(language.name)}</a></li>'
        for language in languages
        if language.locale != t.locale
    )
    direction = "rtl" if t.rtl else "ltr"
    # Translators: on the campaign's web page, above the code a website pastes to show the live count.
    embed = t.gettext("Show the live count on your website")
    background = t.plain(campaign.background[0]) if campaign.background else ""
    return f"""<!doctype html>
<html lang="{_e(language_tag(t.locale))}" dir="{direction}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t.plain(campaign.title)}</title>
<meta name="description" content="{_e(t.catalog.gettext(campaign.title))}">
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{t.plain(campaign.title)}</h1>
<p>{background}</p>
<p class="count"><strong>{signed}</strong> — {goal}</p>
<progress max="{campaign.goal}" value="{min(count, campaign.goal)}">{_e(percent)}</progress>
<p><a class="sign" href="{_e(link)}">{t.gettext("✍️ Sign the letter")}</a></p>
<figure>
<img src="{_e(qr_url)}" alt="{_e(qr_alt)}" width="192" height="192">
<figcaption dir="ltr">{_e(link.removeprefix("https://"))}</figcaption>
</figure>
<nav><h2>{t.gettext("🌐 Change language")}</h2><ul>{others}</ul></nav>
<details><summary>{embed}</summary>
<pre dir="ltr"><code>{_e(snippets.iframe)}</code></pre>
<pre dir="ltr"><code>{_e(snippets.script)}</code></pre>
</details>
</main>
</body>
</html>
"""


def render_index(t: Translator, entries: Sequence[IndexEntry]) -> str:
    """The list of campaigns in ``t``'s language: the open ones, then the closed ones, still readable."""
    items: list[str] = []
    closed_heading = False
    for entry in entries:
        if entry.closed_on is not None and not closed_heading:
            still_readable = t.gettext("Closed, still readable:")
            items.append(f"</ul><h2>{still_readable}</h2><ul>")
            closed_heading = True
        signed = t.ngettext("{n} person has signed", "{n} people have signed", entry.count)
        goal = t.gettext("goal {goal}", goal=entry.campaign.goal)
        closed = ""
        if entry.closed_on is not None:
            closed = " (" + t.gettext("closed on {date}", date=entry.closed_on) + ")"
        items.append(
            f'<li><a href="{_e(entry.url)}">{t.plain(entry.campaign.title)}</a>{closed}'
            f'<br><span class="count">{signed} — {goal}</span></li>'
        )
    direction = "rtl" if t.rtl else "ltr"
    heading = t.gettext("Which letter would you like to read?")
    return f"""<!doctype html>
<html lang="{_e(language_tag(t.locale))}" dir="{direction}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{heading}</h1>
<ul>{"".join(items)}</ul>
</main>
</body>
</html>
"""
