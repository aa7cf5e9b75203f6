"""The outcome curve of a breach drawn as a picture (PNG or SVG), for ``verrou metrics
--plot`` and the operators' page (``/operator/outcomes/{breach}.png``).

Drawn with matplotlib's object API on its Agg canvas, never ``pyplot``: no display is needed,
and no global figure state is shared between the portal's threads. Counts only: nothing in a
plot identifies a person.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final, Literal

from verrou.registry.outcomes import Curve
from verrou.registry.records import MEASURES

PlotFormat = Literal["png", "svg"]
PLOT_FORMATS: Final[tuple[PlotFormat, ...]] = ("png", "svg")
#: The plot's size in pixels (inches × dots per inch), as the tests read it back.
PLOT_INCHES: Final = (10.0, 6.0)
PLOT_DPI: Final = 100
_LABELS: Final = {
    "checks": "checks on exposed identities",
    "step_up": "step_up verdicts",
    "deny": "deny verdicts",
    "reports": "identity-theft reports",
    "canary_hits": "canary hits",
}


@dataclass(frozen=True)
class PlotTexts:
    """The words of a plot, in English unless a caller (the portal) gives its own language's:
    ``title`` and ``x_label`` are formatted with ``breach``, ``by`` (month, week), ``origin``
    (disclosure, ingest) and ``day`` (ISO date)."""

    title: str = "{breach}: attempts on its identities, by {by} since {origin} ({day})"
    x_label: str = "{by}s since {origin}"
    y_label: str = "count"
    sectors_label: str = "checks by sector"
    measures: Mapping[str, str] = field(default_factory=lambda: dict(_LABELS))
    #: How ``by``, ``origin`` and the sectors read (absent: as the curve names them).
    words: Mapping[str, str] = field(default_factory=dict)

    def format(self, text: str, shown: Curve) -> str:
        return text.format(
            breach=shown.breach,
            by=self.words.get(shown.by, shown.by),
            origin=self.words.get(shown.origin.kind, shown.origin.kind),
            day=shown.origin.day.isoformat(),
        )


def draw(
    shown: Curve,
    target: Path | BinaryIO,
    *,
    fmt: PlotFormat | None = None,
    texts: PlotTexts | None = None,
) -> None:
    """Draw ``shown`` over its periods into ``target`` (a file, or a binary stream): one line
    per measure, all sectors, and the checks by sector below. ``fmt`` defaults to the file's
    suffix; ``texts``, to English."""
    from matplotlib.figure import Figure

    chosen = fmt or (target.suffix.lower()[1:] if isinstance(target, Path) else "png")
    if chosen not in PLOT_FORMATS:
        raise ValueError(f"a plot is one of {', '.join(PLOT_FORMATS)}, not {chosen!r}")
    words = texts or PlotTexts()
    figure = Figure(figsize=PLOT_INCHES, dpi=PLOT_DPI)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    periods = list(shown.periods)
    for index, measure in enumerate(MEASURES):
        top.plot(
            periods,
            [shown.at(p).counts()[index] for p in periods],
            marker="o",
            markersize=3,
            label=words.measures.get(measure, measure),
        )
    top.set_title(words.format(words.title, shown))
    top.set_ylabel(words.y_label)
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)
    for sector in shown.sectors:
        counts = [shown.at(p, sector).checks for p in periods]
        bottom.plot(periods, counts, marker=".", label=words.words.get(sector, sector))
    bottom.set_xlabel(words.format(words.x_label, shown))
    bottom.set_ylabel(words.sectors_label)
    if shown.sectors:
        bottom.legend(loc="upper right", fontsize="small")
    bottom.grid(alpha=0.3)
    bottom.set_xticks(periods[:: max(1, len(periods) // 18)])
    figure.tight_layout()
    # No software or date in the file: the same curve gives the same bytes.
    metadata = {"Software": None} if chosen == "png" else {"Date": None}
    figure.savefig(target, format=chosen, metadata=metadata)


def png(shown: Curve, texts: PlotTexts | None = None) -> bytes:
    """``shown`` drawn as PNG bytes (:func:`draw`)."""
    buffer = io.BytesIO()
    draw(shown, buffer, fmt="png", texts=texts)
    return buffer.getvalue()


__all__ = ["PLOT_DPI", "PLOT_FORMATS", "PLOT_INCHES", "PlotFormat", "PlotTexts", "draw", "png"]
