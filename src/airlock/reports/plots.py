"""The report's figures: the difficulty curve per family and the paired differences, as self-contained SVG.

Reviews happen on air-gapped networks and reports are signed, so a figure must draw the same everywhere and
come out byte for byte the same every time it is made from the same results:

* **No font dependency.** ``svg.fonttype = "path"`` turns text into outlines; no reader needs DejaVu Sans.
* **Deterministic.** ``svg.hashsalt`` is fixed (matplotlib derives clip-path ids from it, otherwise from a
  random salt) and the ``Date`` metadata is left out.
* **Nothing external.** The XML declaration, the DOCTYPE (which names an external DTD) and the RDF metadata
  (which names matplotlib's web site) are not written; the only URI left is the SVG namespace declaration,
  which identifies a vocabulary and is never fetched.
* **Ready to sit inside an HTML page.** matplotlib's output is rewritten once, with ElementTree, into the
  same drawing in the plainest SVG: styles become presentation attributes (an HTML engine then has no
  per-element CSS to parse, and the page's stylesheet is not touched by a ``*`` rule from the figure),
  ``xlink:href`` becomes SVG 2's ``href`` (no second namespace), ids nothing refers to are dropped, and the
  ids left (glyph outlines, markers, clip paths) start with the figure's own slug, so two figures in one
  page never define the same id.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas attached explicitly, not
through ``pyplot``: no global backend switch, no figure manager that would keep a reference, so nothing to
close and nothing that leaks between reports (``savefig`` writes SVG through the SVG renderer whatever the
canvas). Style settings apply inside ``matplotlib.rc_context`` only.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision deficiency), and every
subject also has its own marker and line style, so no line is told apart by colour alone. The model is
always drawn first, in blue, with a solid line; the same subject has the same colour in both figures.

Example::

    for figure in figures(results, ["model", "baseline:fuzzer", "baseline:reference"]):
        print(figure.title, len(figure.svg))
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MultipleLocator, PercentFormatter
from matplotlib.typing import LineStyleType, MarkerType, RcKeyType

from airlock.reports.model import DifferenceRow, Figure, Rate, Results

SUCCESS_BY_TIER = "Success by tier"
PAIRED_DIFFERENCES = "Paired differences"

# Okabe & Ito (2008), "Color Universal Design": blue for the model, then the others in order.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_MARKERS: tuple[MarkerType, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "airlock-report",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.6,
}
"""Everything the figures change from matplotlib's defaults; applied inside ``rc_context`` only."""

# Metadata keys matplotlib writes by default; None leaves each one out, so no <metadata> block is written.
_NO_METADATA: dict[str, str | None] = {"Date": None, "Creator": None, "Format": None, "Type": None}

_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_SVG = f"{{{_SVG_NAMESPACE}}}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_FRAGMENT_URL = re.compile(r"url\(#([^)]+)\)")


def figures(results: Results, subjects: list[str]) -> list[Figure]:
    """The report's figures for ``results``, one line or row per subject in ``subjects`` order.

    ``subjects`` names what to draw (``model`` first, then each baseline or other model) and fixes each
    one's colour and marker; rates and differences for a subject not in the list are not drawn. A figure with nothing to
    show (no per-tier rate with a value, no difference with a value) is left out, so the list has 0 to 2
    entries.
    """
    made = []
    curve = _success_by_tier(results.by_tier, subjects)
    if curve is not None:
        made.append(curve)
    forest = _paired_differences(results.differences, subjects)
    if forest is not None:
        made.append(forest)
    return made


def _success_by_tier(rates: Sequence[Rate], subjects: Sequence[str]) -> Figure | None:
    drawn = [rate for rate in rates if rate.tier is not None and rate.family != "all" and rate.subject in subjects]
    if not any(rate.value is not None for rate in drawn):
        return None
    families = list(dict.fromkeys(rate.family for rate in drawn))
    tiers = sorted({rate.tier for rate in drawn if rate.tier is not None})
    present = [subject for subject in subjects if any(rate.subject == subject for rate in drawn)]
    # Subjects side by side at each tier, so their interval bars do not hide one another.
    spread = 0.36 / max(len(present), 1)

    with matplotlib.rc_context(_STYLE):
        figure = MplFigure(figsize=(2.6 * len(families) + 0.6, 3.4), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(1, len(families), sharey=True, squeeze=False)[0]
        handles = {}
        for ax, family in zip(axes, families, strict=True):
            for position, subject in enumerate(present):
                points = sorted(
                    (rate.tier, rate.value, rate.low, rate.high)
                    for rate in drawn
                    if rate.family == family and rate.subject == subject
                    if rate.tier is not None and rate.value is not None
                )
                if not points:
                    continue
                offset = (position - (len(present) - 1) / 2) * spread
                look = _look(subjects.index(subject))
                handles[subject] = ax.errorbar(
                    [tier + offset for tier, _, _, _ in points],
                    [value for _, value, _, _ in points],
                    yerr=[
                        [max(value - low, 0.0) for _, value, low, _ in points],
                        [max(high - value, 0.0) for _, value, _, high in points],
                    ],
                    label=subject,
                    color=look.color,
                    marker=look.marker,
                    linestyle=look.linestyle,
                    markersize=5,
                    linewidth=1.4,
                    capsize=2.5,
                    elinewidth=1,
                )
            ax.set_title(family)
            ax.set_xticks(tiers, [str(tier) for tier in tiers])
            ax.set_xlim(tiers[0] - 0.5, tiers[-1] + 0.5)
            # A little room beyond 0% and 100%, so markers and bars there are drawn whole.
            ax.set_ylim(-0.04, 1.04)
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
            ax.set_xlabel("Tier (difficulty)")
        axes[0].set_ylabel("Success rate (95% interval)")
        ordered = [subject for subject in present if subject in handles]
        figure.legend(
            [handles[subject] for subject in ordered],
            ordered,
            loc="outside lower center",
            ncols=min(len(ordered), 4),
            frameon=False,
        )
        svg = _svg(figure, "success-by-tier")
    return Figure(
        title=SUCCESS_BY_TIER,
        caption=(
            "Success rate at each tier of difficulty, per challenge family, for the model and every baseline "
            "run on the same instances. Bars are 95% intervals that allow for instances made from the same "
            "template being alike (see Methods)."
        ),
        svg=svg,
    )


def _paired_differences(rows: Sequence[DifferenceRow], subjects: Sequence[str]) -> Figure | None:
    drawn = [row for row in rows if row.value is not None and row.versus in subjects]
    if not drawn:
        return None
    families = list(dict.fromkeys(row.family for row in drawn if row.family != "all"))
    if any(row.family == "all" for row in drawn):
        families.append("all")
    ordered = sorted(drawn, key=lambda row: (families.index(row.family), subjects.index(row.versus)))

    with matplotlib.rc_context(_STYLE):
        figure = MplFigure(figsize=(7.0, 0.28 * len(ordered) + 1.3), layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        # Top to bottom in reading order.
        positions = list(range(len(ordered) - 1, -1, -1))
        for position, row in zip(positions, ordered, strict=True):
            assert row.value is not None
            look = _look(subjects.index(row.versus))
            ax.errorbar(
                [row.value],
                [position],
                xerr=[[max(row.value - row.low, 0.0)], [max(row.high - row.value, 0.0)]],
                color=look.color,
                marker=look.marker,
                linestyle="none",
                markersize=5,
                capsize=2.5,
                elinewidth=1.2,
            )
        for previous, row in itertools.pairwise(ordered):
            if row.family != previous.family:
                boundary = positions[ordered.index(row)] + 0.5
                ax.axhline(boundary, color="#a0a0a0", linewidth=0.6)
        ax.axvline(0, color="#333333", linewidth=1, linestyle="--")
        ax.set_yticks(positions, [f"{row.family}: model \u2212 {row.versus}" for row in ordered])
        ax.set_ylim(-0.6, len(ordered) - 0.4)
        ax.set_xlim(-1.04, 1.04)
        ax.xaxis.set_major_locator(MultipleLocator(0.5))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, symbol=" pp"))
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("Model minus other, percentage points (95% interval)")
        svg = _svg(figure, "paired-differences")
    return Figure(
        title=PAIRED_DIFFERENCES,
        caption=(
            "The model's success rate minus each other subject's, on exactly the same instances, per family "
            "and over all families. Bars are 95% intervals; right of the dashed zero line the model did better."
        ),
        svg=svg,
    )


@dataclass(frozen=True)
class _Look:
    color: str
    marker: MarkerType
    linestyle: LineStyleType


def _look(index: int) -> _Look:
    """Colour, marker and line style of the subject at ``index``: the model (0) solid, the others broken."""
    return _Look(
        color=_PALETTE[index % len(_PALETTE)],
        marker=_MARKERS[index % len(_MARKERS)],
        linestyle="-" if index == 0 else _LINESTYLES[1 + (index - 1) % (len(_LINESTYLES) - 1)],
    )


def _svg(figure: MplFigure, slug: str) -> str:
    """The figure as a self-contained, plain SVG document whose ids all start with ``slug``."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    root = ElementTree.fromstring(buffer.getvalue())  # noqa: S314  # our own matplotlib output, not outside input
    _styles_to_attributes(root)
    _prefix_ids(root, slug)
    for element in root.iter():
        # Every element is SVG: written unprefixed under the one default namespace declaration.
        element.tag = element.tag.removeprefix(_SVG)
    root.attrib = {"xmlns": _SVG_NAMESPACE, **root.attrib}
    return ElementTree.tostring(root, encoding="unicode")


def _styles_to_attributes(root: ElementTree.Element) -> None:
    """Move every style into presentation attributes, and ``xlink:href`` to ``href``, in place."""
    parents = {child: parent for parent in root.iter() for child in parent}
    for stylesheet in [element for element in root.iter() if element.tag == f"{_SVG}style"]:
        root.attrib.update(_universal_rule(stylesheet.text or ""))
        holder = parents[stylesheet]
        holder.remove(stylesheet)
        if holder.tag == f"{_SVG}defs" and len(holder) == 0:
            parents[holder].remove(holder)
    for element in root.iter():
        if style := element.attrib.pop("style", None):
            element.attrib.update(_declarations(style))
        if _XLINK_HREF in element.attrib:
            element.set("href", element.attrib.pop(_XLINK_HREF))


def _prefix_ids(root: ElementTree.Element, slug: str) -> None:
    """Drop the ids nothing refers to and prefix the others, and every reference to them, with ``slug``."""
    referenced: set[str] = set()
    for element in root.iter():
        referenced.update(value[1:] for name, value in element.attrib.items() if name == "href")
        referenced.update(_FRAGMENT_URL.findall(" ".join(element.attrib.values())))
    for element in root.iter():
        identifier = element.attrib.pop("id", None)
        if identifier in referenced:
            element.set("id", f"{slug}-{identifier}")
        for name, value in list(element.attrib.items()):
            if name == "href":
                element.set(name, f"#{slug}-{value[1:]}")
            else:
                element.set(name, _FRAGMENT_URL.sub(lambda match: f"url(#{slug}-{match[1]})", value))


def _declarations(style: str) -> dict[str, str]:
    """``fill: #fff; stroke: none`` as ``{"fill": "#fff", "stroke": "none"}``."""
    pairs = (declaration.split(":", 1) for declaration in style.split(";") if declaration.strip())
    return {name.strip(): value.strip() for name, value in pairs}


def _universal_rule(stylesheet: str) -> dict[str, str]:
    """The declarations of matplotlib's one ``*{...}`` rule; any other stylesheet is a change to look at."""
    match = re.fullmatch(r"\s*\*\s*\{([^}]*)\}\s*", stylesheet)
    if match is None:
        raise ValueError(f"matplotlib wrote a stylesheet Airlock does not know how to inline: {stylesheet!r}")
    # Both properties matplotlib sets this way are inherited: on the root they reach every element.
    return _declarations(match[1])
