"""The ``/stats`` chart: signatures per day (bars) and the cumulative total (line), as a PNG.

Drawn with matplotlib's object API (``Figure`` + the Agg canvas), never
``pyplot``: pyplot keeps global state (current figure, registered figures) that
is neither thread-safe nor freed unless closed, and a bot draws charts for
several organisers from worker threads.

The size is Telegram's photo size (1280×720 px): Telegram scales larger photos
down, which would make the labels unreadable.

Fonts: the labels are drawn with DejaVu Sans, which matplotlib bundles, so the
chart never depends on the fonts of the host. DejaVu Sans covers Latin, Greek,
Cyrillic and basic Arabic letters, but has no CJK glyphs and does not shape
Arabic (letters appear unjoined, left to right); such labels would render as
boxes or broken words. Callers therefore pass labels that DejaVu Sans can draw
(the admin's language when it is Latin or Cyrillic, English otherwise) and put
the translated text in the photo's caption, which Telegram renders properly.
Dates on the axis are ISO-like (``2026-12-01``), the same in every language.

matplotlib is imported only when a chart is drawn (about a second): the
conversation imports this module, and no ordinary update should pay for it.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import date
from functools import cache
from itertools import accumulate

WIDTH_PX, HEIGHT_PX, DPI = 1280, 720, 100
BAR_COLOUR = "#f5c400"  # Amnesty yellow
LINE_COLOUR = "#1a1a1a"
FONT = "DejaVu Sans"
MAX_BARS = 120  # more days than this are drawn as one filled step outline


@cache
def _covered() -> frozenset[int]:
    """The code points DejaVu Sans has glyphs for."""
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    return frozenset(TTFont(font_manager.findfont(FONT)).getBestCmap())


def drawable(text: str) -> bool:
    """Whether the chart can show ``text`` as written: every glyph present, nothing to shape right-to-left."""
    return all(ord(ch) in _covered() and unicodedata.bidirectional(ch) not in {"R", "AL"} for ch in text)


def _thousands(value: float, _position: int) -> str:
    """Axis numbers with thin grouping ("12 500"), readable in every language."""
    return f"{int(value):,}".replace(",", "\u202f")


def signatures_chart(
    per_day: list[tuple[date, int]],
    *,
    title: str,
    daily_label: str,
    total_label: str,
    goal: int | None = None,
    goal_label: str = "",
) -> bytes:
    """A 1280×720 PNG of ``per_day`` (oldest first): bars per day, cumulative total on a second axis.

    With ``goal``: a dashed line at the goal on the total's axis once the total has
    reached a tenth of it (further below, the line would flatten the total to the floor),
    else ``goal_label`` beside the total's legend only.

    Works for any number of days: no days gives an empty chart with the axes
    and labels (a campaign that has just started), one day a single bar, and
    many days thin bars with automatically spaced date ticks.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, DateFormatter, DayLocator, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    daily = figure.add_subplot()
    cumulative = daily.twinx()
    font = {"family": FONT}

    days = [day for day, _ in per_day]
    counts = [count for _, count in per_day]
    if per_day:
        x = date2num(days)  # type: ignore[no-untyped-call]
        if len(per_day) <= MAX_BARS:
            daily.bar(x, counts, width=0.8, color=BAR_COLOUR, label=daily_label, zorder=2)
        else:  # one filled outline instead of a patch per day: 1,000 days draw in a fraction of the time
            edges = [*(value - 0.5 for value in x), x[-1] + 0.5]
            daily.stairs(counts, edges, fill=True, color=BAR_COLOUR, label=daily_label, zorder=2)
        marker = "o" if len(per_day) <= 31 else None  # a single day's total is a point, not a line
        cumulative.plot(
            x, list(accumulate(counts)), color=LINE_COLOUR, linewidth=2.5, marker=marker, label=total_label, zorder=3
        )
        # At least a week wide, so one or two days do not become one enormous bar.
        daily.set_xlim(x[0] - 0.6, max(x[-1], x[0] + 6) + 0.6)
        if len(per_day) <= 10:
            daily.xaxis.set_major_locator(DayLocator())  # type: ignore[no-untyped-call]
        else:
            daily.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))  # type: ignore[no-untyped-call]
        daily.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    else:
        daily.set_xticks([])
    daily.set_ylim(bottom=0, top=max([*counts, 1]) * 1.1)
    top = max(sum(counts), 1)
    if goal and sum(counts) * 10 >= goal:
        cumulative.axhline(goal, color=LINE_COLOUR, linestyle="--", linewidth=1.5, label=goal_label, zorder=3)
        top = max(top, goal)
    elif goal and goal_label:
        total_label = f"{total_label} ({goal_label})"
        for line in cumulative.get_lines():
            line.set_label(total_label)
    cumulative.set_ylim(bottom=0, top=top * 1.1)

    daily.set_title(title, fontsize=20, fontweight="bold", fontdict=font, loc="left")
    daily.set_ylabel(daily_label, fontsize=15, color="#7a6200", fontdict=font)
    cumulative.set_ylabel(total_label, fontsize=15, fontdict=font)
    for axis in (daily, cumulative):
        axis.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        axis.yaxis.set_major_formatter(FuncFormatter(_thousands))
        axis.tick_params(labelsize=13)
        for label in axis.get_xticklabels() + axis.get_yticklabels():
            label.set_fontfamily(FONT)
    daily.grid(axis="y", color="#dddddd", zorder=0)
    daily.spines["top"].set_visible(False)
    cumulative.spines["top"].set_visible(False)

    handles = daily.get_legend_handles_labels()[0] + cumulative.get_legend_handles_labels()[0]
    if handles:
        # Above the plot, right of the title: never on top of the bars or the line.
        figure.legend(
            handles=handles, loc="outside upper right", ncols=2, frameon=False, prop={"family": FONT, "size": 13}
        )

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
