"""Rendering a :class:`~airlock.reports.model.Report` as HTML, PDF and JSON.

The renderers add layout and nothing else: every word and number comes from the report, so the three
formats cannot disagree. The decisions behind the layout:

* **One template for screen and print.** ``templates/report.html.j2`` is rendered once; the PDF is that
  HTML laid out by WeasyPrint with the print rules of the same stylesheet. What a reviewer reads in the
  browser is what the partner reads on paper.
* **Self-contained and offline.** The stylesheet is inline, the figures are inline SVG, fonts are the
  system's (no web fonts), and the page names no ``http(s)`` URL: reviews happen on air-gapped networks,
  and a report must not call out when it is opened. The PDF renderer refuses every fetch WeasyPrint would
  make: any reference to an outside resource fails the rendering instead of leaving a hole in the report
  (or downloading something).
* **The marking on every page.** The marking is a banner at the top and bottom of the HTML page and, in
  print, in the top and bottom margin boxes of every page (CSS ``@page``), with the page number. The HTML
  banners stay visible in print too: a browser that ignores margin boxes still prints the marking on the
  first and last page, and a duplicated marking is harmless where a missing one is not.
* **Page one stands alone.** Title, the decision on every capability level with the numbers that decided
  it, and the summary, then a page break. A report without results says plainly that nothing can be
  decided yet instead of showing a table of inconclusive rows. A decision is told apart by its word,
  weight and border (solid, thin, dashed), not by colour alone.
* **Escaping.** Jinja's autoescaping is on for every value. Two values go out unescaped, each through one
  filter here: the marking inside the stylesheet, written as a CSS string with every character that could
  end it escaped (:func:`css_string`), and the figure SVGs, which :func:`inline_svg` checks are plain
  drawings (no script, no event handler, no foreign content, no reference outside the drawing) before it
  marks them safe.

Example::

    report = build_report(...)
    Path("report.pdf").write_bytes(render_pdf(report))
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import jinja2
from markupsafe import Markup

from airlock.reports.model import Report

VARIANT_LABELS = {"full": "Full report", "redacted": "Redacted report for trusted partners"}
STATUS_LABELS = {"draft": "Draft", "final": "Final"}
DECISION_LABELS = {"crossed": "Crossed", "not crossed": "Not crossed", "inconclusive": "Inconclusive"}
KIND_LABELS = {
    "capability": "Capability finding",
    "notable_success": "Notable success",
    "unplanted_crash": "Unplanted memory error",
    "reviewer": "Reviewer finding",
}

_SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_NAMESPACE_DECLARATION = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_CSS_URL = re.compile(r"url\(\s*['\"]?([^)'\"]*)")
_CSS_STRING_SAFE = frozenset(" -_.,:;/()[]!?+=#%*'@|")


def render_json(report: Report) -> bytes:
    """The report as pretty-printed JSON (valid against :func:`~airlock.reports.model.report_schema`)."""
    return (report.model_dump_json(indent=2) + "\n").encode()


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page: inline stylesheet and figures, no outside reference."""
    subjects = list(dict.fromkeys(subject for row in report.appendix for subject in row.verdicts))
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            variant_label=VARIANT_LABELS[report.variant],
            status_label=STATUS_LABELS[report.status],
            decision_labels=DECISION_LABELS,
            kind_labels=KIND_LABELS,
            appendix_subjects=subjects,
            show_reasons=any(row.reasons is not None for row in report.appendix),
            show_variants=any(row.variant is not None for row in report.appendix),
        )
    )


def render_pdf(report: Report) -> bytes:
    """The report as PDF: its HTML laid out for A4 by WeasyPrint, the marking on every page.

    Nothing is fetched: the HTML is self-contained, and an attempt to fetch anything stops the rendering.
    """
    # Imported here: WeasyPrint takes half a second to import, and every `airlock` command would pay it.
    import weasyprint  # type: ignore[import-untyped]  # WeasyPrint ships no type information

    class NoFetching(weasyprint.URLFetcher):  # type: ignore[misc]  # WeasyPrint is untyped
        """A URL fetcher that refuses every URL, fatally: a report is rendered offline or not at all."""

        def __init__(self) -> None:
            super().__init__(fail_on_errors=True)

        def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
            raise weasyprint.urls.FatalURLFetchingError(f"The report refers to {url!r}; reports are rendered offline.")

    document = weasyprint.HTML(string=render_html(report), base_url=None, url_fetcher=NoFetching())
    pdf: bytes = document.write_pdf()
    return pdf


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("airlock.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        css_string=css_string,
        inline_svg=inline_svg,
        percent=_percent,
        standard_error=_standard_error,
        points=_points,
        day=_day,
        moment=_moment,
        family=_family,
        paragraphs=_paragraphs,
    )
    return environment


def css_string(text: str) -> Markup:
    """``text`` as a double-quoted CSS string, safe inside a ``<style>`` element.

    Letters, digits and harmless punctuation stay as they are (the marking stays readable in the source);
    every other character, quotes, backslashes, ``<`` and line breaks included, becomes a six-digit CSS
    escape, so the string can neither end early nor close the ``<style>`` element.
    """
    escaped = "".join(char if char.isalnum() or char in _CSS_STRING_SAFE else f"\\{ord(char):06x}" for char in text)
    return Markup(f'"{escaped}"')  # noqa: S704  # every character that could end the string is escaped above


def inline_svg(svg: str) -> Markup:
    """A figure's SVG document, checked to be a plain drawing, ready to sit inside the HTML page.

    The check fails closed: a script, an event handler, foreign (HTML) content, or a reference to
    anything but an element of the drawing itself raises :class:`ValueError`. The namespace declarations
    are dropped (the HTML parser puts ``<svg>`` in the SVG namespace by itself), so the page names no URL.
    """
    root = ElementTree.fromstring(svg)  # noqa: S314  # expat expands no external entity and caps entity growth
    if root.tag != f"{_SVG}svg":
        raise ValueError("A report figure must be an SVG document.")
    for element in root.iter():
        if element.tag in (f"{_SVG}script", f"{_SVG}foreignObject"):
            raise ValueError("A report figure may not contain scripts or foreign content.")
        if _refers_outside(element.text or ""):
            raise ValueError("A report figure may refer only to its own elements.")
        for name, value in element.attrib.items():
            if name.startswith("on"):
                raise ValueError("A report figure may not contain event handlers.")
            if (name in ("href", _XLINK_HREF) and not value.startswith("#")) or _refers_outside(value):
                raise ValueError("A report figure may refer only to its own elements.")
    start = svg.index("<svg")
    end = svg.index(">", start)
    return Markup(_NAMESPACE_DECLARATION.sub("", svg[start:end]) + svg[end:])  # noqa: S704  # checked above


def _refers_outside(text: str) -> bool:
    """Whether CSS or an attribute value in ``text`` imports or points at anything but a ``#fragment``."""
    return "@import" in text or any(not target.startswith("#") for target in _CSS_URL.findall(text))


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1%}"


def _standard_error(value: float | None) -> str:
    """A standard error; where there is none (no variation, or one template), the interval says it all."""
    return "not estimable" if value is None else f"{value:.1%}"


def _points(value: float | None, signed: bool = True) -> str:
    """A difference of proportions (or its standard error, unsigned) in percentage points."""
    if value is None:
        return "no data"
    return f"{value * 100:+.1f} pp" if signed else f"{value * 100:.1f} pp"


def _day(moment: datetime) -> str:
    moment = _utc(moment)
    return f"{moment.day} {moment:%B %Y}"


def _moment(moment: datetime) -> str:
    return f"{_utc(moment):%Y-%m-%d %H:%M} UTC"


def _utc(moment: datetime) -> datetime:
    """Times in a report are UTC; a naive time is one already in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _family(family: str) -> str:
    return "All families" if family == "all" else family


def _paragraphs(text: str) -> list[str]:
    return [paragraph.strip() for paragraph in re.split(r"\n\s*\n", text) if paragraph.strip()]
