"""The embeddable count: a small page for an ``<iframe>``, and the scripts that keep it moving.

``/c/<slug>/widget`` is the count, the goal's bar and the "Sign the letter" link,
small enough for a sidebar; ``widget.js`` (in that page) asks the JSON count every
``every`` seconds and updates the number and the bar without a reload. Campaign
sites paste either the ``<iframe>`` itself or one ``<script>`` line: ``embed.js``
puts the iframe where the script stands, passing its ``data-`` attributes on (the
language, the source, the colours, the size). Colours are CSS variables, given as
hexadecimal (``?accent=ffd100&ink=111111&paper=ffffff``); nothing else of the host
page reaches the widget, and the widget reads nothing of the host page.
"""

from __future__ import annotations

import html
import re

from handlers.i18n import Translator
from petition.campaign import Campaign
from web.page import language_tag

COLOURS = ("accent", "ink", "paper")
_HEX = re.compile(r"[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")
DEFAULT_EVERY = 15  # seconds between two looks at the count; the API is cached for 5

WIDGET_STYLE = """
:root { --accent: #ffd100; --ink: #111; --paper: #fff; --muted: #555; }
* { box-sizing: border-box; }
body { margin: 0; padding: .75rem; font: 1rem/1.4 system-ui, "Noto Sans", sans-serif; color: var(--ink); background: var(--paper); }
.title { margin: 0 0 .4rem; font-weight: 700; font-size: .95rem; }
.count { margin: 0 0 .3rem; }
progress { width: 100%; height: .9rem; accent-color: var(--ink); }
.sign { display: inline-block; margin-top: .6rem; padding: .45rem .9rem; border-radius: .4rem;
        background: var(--accent); color: var(--ink); font-weight: 700; text-decoration: none; }
"""

# Asks the JSON count every data-every seconds; updates the text and the bar. No framework, no cookie.
WIDGET_JS = """(function () {
  "use strict";
  var script = document.currentScript;
  var api = script.getAttribute("data-api");
  var every = Math.max(1, Number(script.getAttribute("data-every")) || 15) * 1000;
  function show(data) {
    if (!data) { return; }
    document.getElementById("count-text").textContent = data.count_text;
    var bar = document.getElementById("bar");
    bar.max = data.goal;
    bar.value = Math.min(data.count, data.goal);
    bar.setAttribute("data-count", String(data.count));
  }
  function look() {
    fetch(api, { cache: "no-cache", credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(show)
      .catch(function () { /* offline for a moment: the next look will do */ });
  }
  setInterval(look, every);
})();
"""

# Pasted into a campaign site: replaces itself with the widget's iframe.
EMBED_JS = """(function () {
  "use strict";
  var script = document.currentScript;
  var source = new URL(script.src);
  var query = new URLSearchParams();
  [["lang", "lang"], ["s", "source"], ["accent", "accent"], ["ink", "ink"], ["paper", "paper"], ["every", "every"]]
    .forEach(function (pair) {
      var value = script.getAttribute("data-" + pair[1]);
      if (value) { query.set(pair[0], value); }
    });
  var frame = document.createElement("iframe");
  frame.src = source.origin + source.pathname.replace(/embed\\.js$/, "widget") + "?" + query.toString();
  frame.title = script.getAttribute("data-title") || "Petition";
  frame.loading = "lazy";
  frame.style.border = "0";
  frame.style.width = script.getAttribute("data-width") || "100%";
  frame.style.height = script.getAttribute("data-height") || "11rem";
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
"""


def colours(query: dict[str, str]) -> dict[str, str]:
    """The colours asked for that are hexadecimal colours, as ``#rrggbb``."""
    return {name: f"#{query[name]}" for name in COLOURS if _HEX.fullmatch(query.get(name, ""))}


def every(query: dict[str, str]) -> int:
    value = query.get("every", "")
    return max(1, min(int(value), 3600)) if value.isdigit() else DEFAULT_EVERY


def count_text(t: Translator, count: int) -> str:
    return t.ngettext("{n} person has signed", "{n} people have signed", count)


def render_widget(
    t: Translator,
    campaign: Campaign,
    *,
    count: int,
    link: str,
    api: str,
    script: str,
    chosen: dict[str, str],
    seconds: int,
) -> str:
    e = html.escape
    own = "".join(f"--{name}: {value}; " for name, value in chosen.items())
    goal = t.gettext("goal {goal}", goal=campaign.goal)
    return f"""<!doctype html>
<html lang="{e(language_tag(t.locale))}" dir="{"rtl" if t.rtl else "ltr"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t.plain(campaign.title)}</title>
<style>{WIDGET_STYLE}{f":root {{ {own}}}" if own else ""}</style>
</head>
<body>
<p class="title">{t.plain(campaign.title)}</p>
<p class="count"><strong id="count-text">{count_text(t, count)}</strong> — {goal}</p>
<progress id="bar" max="{campaign.goal}" value="{min(count, campaign.goal)}" data-count="{count}"></progress>
<a class="sign" href="{e(link)}" target="_blank" rel="noopener">{t.gettext("✍️ Sign the letter")}</a>
<script src="{e(script)}" data-api="{e(api)}" data-every="{seconds}" defer></script>
</body>
</html>
"""
