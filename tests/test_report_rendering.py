"""The review report as HTML, PDF and JSON: self-contained, marked on every page, redacted when it must be.

Each variant is rendered once per module (a PDF takes a second or two) and read back: the HTML as text
and through Python's HTML parser, the PDF with pypdf, the JSON against the report's JSON Schema.
"""

from __future__ import annotations

import html
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pypdf
import pytest
import weasyprint  # type: ignore[import-untyped]  # WeasyPrint ships no type information

from airlock.reports import render
from airlock.reports.model import Figure, Report, Results, report_schema
from airlock.reports.plots import figures
from airlock.reports.render import render_html, render_json, render_pdf
from tests.support.reports import (
    EXPLOIT_DETAILS,
    FULL_MARKING,
    REDACTED_MARKING,
    SUBJECTS,
    SUMMARY,
    sample_report,
)

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "report-schema.json"
NO_RESULTS = "No evaluation has completed, so nothing can be decided yet."


class _Page(HTMLParser):
    """The parts of an HTML page the tests look at: references, ids, and the visible text in order."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.references: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data") and value is not None:
                self.references.append(value)
            if name == "id" and value is not None:
                self.ids.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style and data.strip():
            self.text.append(data.strip())


def _flat(text: str) -> str:
    """Text as a PDF gives it back, made comparable: words broken at a hyphen joined, whitespace single."""
    return " ".join(re.sub(r"-\s*\n\s*", "-", text).split())


def _pdf_pages(pdf: bytes) -> list[str]:
    return [_flat(page.extract_text()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _page_one(page: str) -> str:
    return page[page.index('class="page-one"') : page.index('id="methods"')]


def _stylesheet(page: str) -> str:
    return page[page.index("<style>") : page.index("</style>")]


@pytest.fixture(scope="module")
def full() -> Report:
    return sample_report("full")


@pytest.fixture(scope="module")
def redacted() -> Report:
    return sample_report("redacted")


@pytest.fixture(scope="module")
def without_results() -> Report:
    return sample_report("full", has_results=False)


@pytest.fixture(scope="module")
def full_html(full: Report) -> str:
    return render_html(full)


@pytest.fixture(scope="module")
def redacted_html(redacted: Report) -> str:
    return render_html(redacted)


@pytest.fixture(scope="module")
def without_results_html(without_results: Report) -> str:
    return render_html(without_results)


@pytest.fixture(scope="module")
def full_pdf(full: Report) -> list[str]:
    return _pdf_pages(render_pdf(full))


@pytest.fixture(scope="module")
def redacted_pdf(redacted: Report) -> list[str]:
    return _pdf_pages(render_pdf(redacted))


@pytest.fixture(scope="module")
def without_results_pdf(without_results: Report) -> list[str]:
    return _pdf_pages(render_pdf(without_results))


@pytest.mark.parametrize("page", ["full_html", "redacted_html", "without_results_html"])
def test_html_refers_to_nothing_outside_itself(page: str, request: pytest.FixtureRequest) -> None:
    rendered: str = request.getfixturevalue(page)
    assert re.findall(r"https?://", rendered) == []
    assert [reference for reference in _Page(rendered).references if not reference.startswith("#")] == []
    assert "@import" not in rendered
    assert re.findall(r"url\(\s*['\"]?(?!#|data:)", rendered) == []
    assert "@font-face" not in rendered


def test_html_declares_its_language(full_html: str) -> None:
    assert re.search(r'<html lang="en">', full_html)


def test_decision_table_comes_before_the_methods(full_html: str) -> None:
    assert '<table class="decisions">' in full_html
    assert full_html.index('<table class="decisions">') < full_html.index('id="methods"')


def test_figures_in_one_page_share_no_ids(full_html: str) -> None:
    ids = _Page(full_html).ids
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("page", "marking"), [("full_html", FULL_MARKING), ("redacted_html", REDACTED_MARKING)])
def test_marking_opens_and_closes_the_html_page(page: str, marking: str, request: pytest.FixtureRequest) -> None:
    text = _Page(request.getfixturevalue(page)).text
    body = text[text.index(marking) :]  # after the <title>, which names the marking too
    assert body[0] == marking
    assert body[-1] == marking


@pytest.mark.parametrize("box", ["top-center", "bottom-center"])
def test_marking_is_in_the_print_margin_boxes(box: str, full_html: str) -> None:
    rule = re.search(r"@" + box + r"\s*\{([^}]*)\}", _stylesheet(full_html))
    assert rule is not None
    assert f'content: "{FULL_MARKING}"' in rule[1]


def test_print_footer_numbers_the_pages(full_html: str) -> None:
    rule = re.search(r"@bottom-center\s*\{([^}]*)\}", _stylesheet(full_html))
    assert rule is not None
    assert "counter(page)" in rule[1]
    assert "counter(pages)" in rule[1]


def test_marking_in_the_stylesheet_cannot_end_the_style_element(full: Report) -> None:
    report = full.model_copy(update={"marking": 'SECRET"; } </style><script>alert(1)</script>'})
    stylesheet = _stylesheet(render_html(report))
    assert "</style" not in stylesheet.lower()
    assert "<script" not in stylesheet.lower()


def test_pdf_page_one_shows_the_decisions_and_summary(full: Report, full_pdf: list[str]) -> None:
    page_one = full_pdf[0]
    for row in full.decisions:
        assert row.level in page_one
    for label in ["Crossed", "Not crossed", "Inconclusive"]:
        assert label in page_one
    assert _flat(SUMMARY) in page_one


@pytest.mark.parametrize("pages", ["full_pdf", "without_results_pdf"])
def test_pdf_methods_start_on_page_two(pages: str, request: pytest.FixtureRequest) -> None:
    texts: list[str] = request.getfixturevalue(pages)
    assert "Methods" not in texts[0]
    assert texts[1].index("Methods") < 200


@pytest.mark.parametrize(
    ("pages", "marking"),
    [("full_pdf", FULL_MARKING), ("redacted_pdf", REDACTED_MARKING), ("without_results_pdf", FULL_MARKING)],
)
def test_every_pdf_page_carries_the_marking(pages: str, marking: str, request: pytest.FixtureRequest) -> None:
    texts: list[str] = request.getfixturevalue(pages)
    assert len(texts) > 1
    assert [number for number, text in enumerate(texts, 1) if marking not in text] == []


@pytest.mark.parametrize("report", ["full", "redacted", "without_results"])
def test_json_is_valid_against_the_report_schema(report: str, request: pytest.FixtureRequest) -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(render_json(request.getfixturevalue(report)))
    jsonschema.Draft202012Validator(schema).validate(document)


def test_json_reads_back_as_the_same_report(full: Report) -> None:
    assert Report.model_validate_json(render_json(full)) == full


def test_shipped_report_schema_is_current() -> None:
    expected = json.dumps(report_schema(), indent=2) + "\n"
    assert SCHEMA_FILE.exists()
    assert SCHEMA_FILE.read_text() == expected, (
        "docs/report-schema.json is out of date; regenerate it with: .venv/bin/python -c "
        "'import json; from airlock.reports.model import report_schema; "
        "print(json.dumps(report_schema(), indent=2))' > docs/report-schema.json"
    )


@pytest.mark.parametrize("detail", list(EXPLOIT_DETAILS))
def test_full_report_shows_the_exploit_detail(detail: str, full_html: str, full_pdf: list[str]) -> None:
    text = EXPLOIT_DETAILS[detail]
    assert html.escape(text, quote=False) in full_html
    assert _flat(text) in " ".join(full_pdf)


@pytest.mark.parametrize("detail", list(EXPLOIT_DETAILS))
def test_redacted_report_leaves_out_the_exploit_detail(
    detail: str, redacted_html: str, redacted_pdf: list[str]
) -> None:
    text = EXPLOIT_DETAILS[detail]
    assert text not in redacted_html
    assert html.escape(text, quote=False) not in redacted_html
    assert _flat(text) not in " ".join(redacted_pdf)


def test_redacted_appendix_has_no_reasons_column(full_html: str, redacted_html: str) -> None:
    assert '<th scope="col">Reasons</th>' in full_html
    assert '<th scope="col">Reasons</th>' not in redacted_html


def test_report_without_results_says_so_on_page_one(without_results_html: str, without_results_pdf: list[str]) -> None:
    assert NO_RESULTS in _page_one(without_results_html)
    assert NO_RESULTS in without_results_pdf[0]


def test_report_without_results_has_no_decision_table(
    without_results_html: str, without_results_pdf: list[str]
) -> None:
    assert "<table" not in _page_one(without_results_html)
    assert "What decided it" not in without_results_pdf[0]


def test_report_with_results_does_not_claim_to_have_none(full_html: str, full_pdf: list[str]) -> None:
    assert NO_RESULTS not in full_html
    assert NO_RESULTS not in full_pdf[0]


def test_report_notes_are_on_page_one(without_results: Report, without_results_pdf: list[str]) -> None:
    for note in without_results.notes:
        assert _flat(note) in without_results_pdf[0]


def test_figures_are_the_difficulty_curve_and_the_differences(full: Report) -> None:
    assert [figure.title for figure in full.figures] == ["Success by tier", "Paired differences"]


def test_figures_are_valid_svg(full: Report) -> None:
    for figure in full.figures:
        # Figures Airlock itself drew, parsed to prove they are well-formed XML.
        assert ElementTree.fromstring(figure.svg).tag == "{http://www.w3.org/2000/svg}svg"  # noqa: S314


def test_figures_name_no_url_but_their_namespace(full: Report) -> None:
    for figure in full.figures:
        without_namespaces = re.sub(r'\sxmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", figure.svg)
        assert "http" not in without_namespaces
        assert re.findall(r'href="(?!#)', figure.svg) == []
        assert re.findall(r"url\((?!#)", figure.svg) == []


def test_figures_are_the_same_every_time(full: Report) -> None:
    assert full.results is not None
    first = [figure.svg for figure in figures(full.results, SUBJECTS)]
    again = [figure.svg for figure in figures(full.results, SUBJECTS)]
    assert first == again == [figure.svg for figure in full.figures]


def test_figure_with_nothing_to_plot_is_left_out(full: Report) -> None:
    assert full.results is not None
    no_differences = full.results.model_copy(update={"differences": []})
    nothing = Results(
        by_tier=[],
        by_family=[],
        pass_at_k=[],
        k=None,
        differences=[],
        abilities=[],
        ability_method="",
        statistics=[],
    )
    assert [figure.title for figure in figures(no_differences, SUBJECTS)] == ["Success by tier"]
    assert figures(nothing, SUBJECTS) == []


def test_pdf_rendering_fetches_nothing(full: Report, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outside = tmp_path / "logo.png"
    outside.write_bytes(b"not fetched")
    page = f'<html lang="en"><body><img src="{outside.as_uri()}" alt="logo"></body></html>'
    monkeypatch.setattr(render, "render_html", lambda report: page)
    with pytest.raises(weasyprint.urls.FatalURLFetchingError):
        render.render_pdf(full)


def test_html_refuses_a_figure_that_runs_a_script(full: Report) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    report = full.model_copy(update={"figures": [Figure(title="Injected", caption="A script.", svg=svg)]})
    with pytest.raises(ValueError, match="scripts"):
        render_html(report)
