"""Export of research reports: each format opens in a parser we did not write (html.parser, pypdf,
python-docx) and shows the report's headings, sentences, `[n]` markers and sources; hostile text comes out
inert; the answer form converts with its citations; the CLI writes the file after a run and on resume."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader
from typer.testing import CliRunner

from sleuth.agents.records import Citation
from sleuth.agents.research.report import (
    NO_SECTION_EVIDENCE,
    Report,
    ReportSection,
    ReportSentence,
    source_line,
)
from sleuth.agents.results import ResearchReport
from sleuth.cli import app
from sleuth.export import UnknownFormatError, as_report, export, format_for
from sleuth.export.convert import NO_EVIDENCE_HEADING
from sleuth.export.safe_text import safe_line, source_parts, web_url
from sleuth.retrieval.base import Passage
from sleuth.testing import HashEmbedder, StaticRetriever, grounded_llm, override

SCRIPT = '<script>alert("x")</script>'
MD_LINK = "[click](javascript:alert(1))"


def hostile_report() -> Report:
    """A sectioned report whose every text tries to break out of the file it is written in."""
    return Report(
        title=f"Who was “Zoë” {SCRIPT}?",
        question="Who was Zoë?",
        opening=[
            ReportSentence(text=f"Zoë Łódź was a poet </p>{SCRIPT} {MD_LINK}.", cites=[1]),
            ReportSentence(text="She wrote “Ode” in 1920.", cites=[1, 2]),
        ],
        sections=[
            ReportSection(
                heading="Early <b>life</b>", sentences=[ReportSentence(text="She was born in Kraków.", cites=[3])]
            ),
            ReportSection(heading="Later years", note=NO_SECTION_EVIDENCE),
        ],
        citations=[
            Citation(
                n=1,
                passage_id="p-zoe",
                title=f"Zoë </li>{SCRIPT}",
                quote=f"A poet. {MD_LINK}",
                url="javascript:alert(1)",
            ),
            Citation(
                n=2, passage_id="p-ode", title="Ode", quote="Ode, 1920.", page=3, url="https://ex.org/ode?a=1&b=2"
            ),
            Citation(n=3, passage_id="patch:c1", title="", quote="Born in Kraków.", kind="patch"),
        ],
    )


def markers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", text)]


def cited(report: Report) -> list[int]:
    """Every citation number in reading order: the opening's, then each section's."""
    sentences = [*report.opening, *(s for section in report.sections for s in section.sentences)]
    return [n for s in sentences for n in s.cites]


# --- formats and suffixes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("r.md", "md"),
        ("a/b.markdown", "md"),
        ("R.HTML", "html"),
        ("x.htm", "html"),
        ("r.pdf", "pdf"),
        ("r.docx", "docx"),
    ],
)
def test_the_format_comes_from_the_suffix(name: str, fmt: str) -> None:
    assert format_for(name) == fmt
    assert format_for(Path(name)) == fmt


@pytest.mark.parametrize("name", ["report.txt", "report.doc", "report", "report.pdf.bak"])
def test_an_unknown_suffix_is_a_clear_error_listing_the_known_ones(name: str) -> None:
    with pytest.raises(UnknownFormatError) as caught:
        format_for(name)
    message = str(caught.value)
    assert repr(name) in message and ".md, .markdown, .html, .htm, .pdf, .docx" in message
    with pytest.raises(UnknownFormatError, match="md, html, pdf, docx"):
        export(hostile_report(), "rtf")  # type: ignore[arg-type]


def test_markdown_is_the_reports_own() -> None:
    report = hostile_report()
    assert export(report, "md").decode("utf-8") == report.markdown()


# --- HTML ----------------------------------------------------------------------------------------------


class Page(HTMLParser):
    """What a browser would act on: every start tag with its attributes, and the text of each element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "p", "li", "title"):
            self._open.append((dict(attrs).get("id") or tag, []))

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "p", "li", "title") and self._open:
            key, parts = self._open.pop()
            self.texts.setdefault(key, []).append("".join(parts))


def test_html_is_one_inert_page_whose_markers_link_to_their_sources() -> None:
    report = hostile_report()
    raw = export(report, "html").decode("utf-8")
    page = Page()
    page.feed(raw)
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "iframe" not in tags and "img" not in tags and "link" not in tags
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]  # no event handlers
    assert "@import" not in raw and "url(" not in raw and "src=" not in raw  # nothing fetched
    policy = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv"))
    assert policy is not None and "default-src 'none'" in policy
    # Hostile text is shown as written, as text.
    assert page.texts["h1"] == [report.title] and page.texts["title"] == [report.title]
    assert page.texts["h2"] == ["Early <b>life</b>", "Later years"] and page.texts["sources"] == ["Sources"]
    assert f"</p>{SCRIPT} {MD_LINK}. [1]" in page.texts["p"][0]
    # Each marker links to its source's anchor, in reading order; each source is its own anchor.
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert [h for h in links if h and h.startswith("#")] == [f"#source-{n}" for n in cited(report)]
    assert [page.texts[f"source-{c.n}"] for c in report.citations] == [[source_line(c)] for c in report.citations]
    # Only the http(s) url is a link; the javascript: one is text.
    assert [h for h in links if h and not h.startswith("#")] == ["https://ex.org/ode?a=1&b=2"]
    assert "javascript:alert(1))" in page.texts["source-1"][0]


def test_html_and_docx_hold_no_control_characters_bidi_overrides_or_lone_surrogates() -> None:
    report = hostile_report()
    report.title = "Evil\x00\x1b[31m \u202etxt.exe\ud800 title"
    report.opening[0].text = "Line\nbreak\x07 and\ttab."
    page = export(report, "html").decode("utf-8")
    assert "Evil[31m txt.exe\ufffd title" in page and "Line break and tab. " in page
    assert not re.search(r"[\x00-\x08\x1b\u202e\ud800]", page)
    assert export(report, "md").decode("utf-8").startswith("# Evil[31m txt.exe\ufffd title\n")
    doc = Document(io.BytesIO(export(report, "docx")))  # XML refuses control characters: it must still open
    assert doc.paragraphs[0].text == "Evil[31m txt.exe\ufffd title"
    assert PdfReader(io.BytesIO(export(report, "pdf"))).pages[0].extract_text().startswith("Evil[31m")


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://ex.org/a?b=1", True),
        ("HTTP://ex.org", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>x</script>", False),
        ("//evil.example/x", False),
        ("https://", False),
        ("https://ex.org/a b", False),
        ("http://[::1", False),
        (None, False),
    ],
)
def test_only_absolute_web_addresses_are_links(url: str | None, linked: bool) -> None:
    assert web_url(url) == (url if linked else None)


def test_source_pieces_read_exactly_as_the_markdown_source_line() -> None:
    for c in [
        *hostile_report().citations,
        Citation(n=4, passage_id="p", title="T", quote="q", url="https://a.b/x): “", page=2),
    ]:
        assert "".join(text for text, _ in source_parts(c)) == source_line(c)
    assert source_parts(hostile_report().citations[1])[1] == (
        "https://ex.org/ode?a=1&b=2",
        "https://ex.org/ode?a=1&b=2",
    )


# --- PDF -----------------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages), reader


def test_pdf_shows_headings_sentences_markers_and_sources() -> None:
    report = hostile_report()
    data = export(report, "pdf")
    assert data.startswith(b"%PDF-")
    text, reader = pdf_text(data)
    body, _, sources = text.partition(" Sources ")
    assert body.startswith(report.title) and "Early <b>life</b>" in body and "Later years" in body
    assert f"Zoë Łódź was a poet </p>{SCRIPT} {MD_LINK}. [1] She wrote “Ode” in 1920. [1][2]" in body
    assert NO_SECTION_EVIDENCE in body
    assert markers(body) == cited(report)
    for c in report.citations:
        assert f"[{c.n}] {c.title or c.passage_id} ({c.passage_id}" in sources
    assert markers(sources)[: len(report.citations)] == [1, 2, 3]
    top, sections = reader.outline  # the PDF reader's bookmarks: the title, the sections under it
    assert top.title == report.title
    assert [b.title for b in sections] == ["Early <b>life</b>", "Later years", "Sources"]
    links = [a.get_object() for page in reader.pages for a in page.get("/Annots", [])]
    uris = [a["/A"]["/URI"] for a in links if "/A" in a and "/URI" in a["/A"]]
    assert uris == ["https://ex.org/ode?a=1&b=2"]  # the javascript: url is not a link
    assert sum(1 for a in links if "/Dest" in a) == len(cited(report))  # each marker jumps to its source


def test_pdf_prints_text_beyond_latin_1_and_keeps_it_in_the_text_layer() -> None:
    report = Report(
        title="Ünïcödé “quotes” — Ελληνικά, Кириллица",
        question="q",
        opening=[ReportSentence(text="东京 is Tokyo 😀; Straße, naïve café.", cites=[1])],
        citations=[Citation(n=1, passage_id="p-東京", title="東京都", quote="東京は日本の首都です。")],
    )
    text, reader = pdf_text(export(report, "pdf"))
    assert text.startswith(report.title)
    assert "东京 is Tokyo 😀; Straße, naïve café. [1]" in text
    assert "[1] 東京都 (p-東京): “東京は日本の首都です。”" in text
    fonts = {str(f["/BaseFont"]) for page in reader.pages for f in page["/Resources"]["/Font"].values()}
    # DejaVu has no CJK glyphs: Last Resort draws a placeholder for them, and is embedded only when needed.
    assert any("DejaVuSans" in f for f in fonts) and any("LastResort" in f for f in fonts)
    latin = pdf_text(export(hostile_report(), "pdf"))[1]
    assert not any("LastResort" in str(f["/BaseFont"]) for f in latin.pages[0]["/Resources"]["/Font"].values())


# --- DOCX ----------------------------------------------------------------------------------------------


def test_docx_has_heading_styles_sentences_with_markers_and_linked_sources() -> None:
    report = hostile_report()
    doc = Document(io.BytesIO(export(report, "docx")))
    paragraphs = [(p.style.name if p.style else "", p.text) for p in doc.paragraphs]
    assert [p for p in paragraphs if p[0].startswith("Heading")] == [
        ("Heading 1", report.title),
        ("Heading 2", "Early <b>life</b>"),
        ("Heading 2", "Later years"),
        ("Heading 2", "Sources"),
    ]
    texts = [text for _, text in paragraphs]
    assert texts[1] == f"Zoë Łódź was a poet </p>{SCRIPT} {MD_LINK}. [1] She wrote “Ode” in 1920. [1][2]"
    assert texts[3] == "She was born in Kraków. [3]" and texts[5] == NO_SECTION_EVIDENCE
    assert texts[-3:] == [f"[{c.n}] {source_line(c)}" for c in report.citations]
    body_links = [h for p in doc.paragraphs[:-3] for h in p.hyperlinks]
    assert [(h.text, h.fragment) for h in body_links] == [(f"[{n}]", f"source-{n}") for n in cited(report)]
    bookmarks = doc.element.body.xpath(".//w:bookmarkStart/@w:name")
    assert bookmarks == ["source-1", "source-2", "source-3"]
    web = [h.address for p in doc.paragraphs[-3:] for h in p.hyperlinks]
    assert web == ["https://ex.org/ode?a=1&b=2"]
    assert doc.core_properties.title == report.title


# --- the answer form -------------------------------------------------------------------------------------


def research_result(answer: str, citations: list[Citation], status: str = "answered") -> ResearchReport:
    return ResearchReport.model_validate(
        {
            "run_id": "r1",
            "question": "What is Lilu?",
            "status": status,
            "answer": answer,
            "citations": citations,
            "plan": [],
            "search_calls": [],
            "patches_used": [],
        }
    )


CITES = [
    Citation(n=1, passage_id="p-lilu", title="Lilu (mythology)", quote="Lilu is a demon."),
    Citation(n=2, passage_id="patch:7", title="", quote="Lilu is a wind spirit.", kind="patch"),
]


def test_the_answer_form_becomes_a_report_with_its_citations() -> None:
    answer = "Lilu is a demon. [1] It is also a wind spirit, “Lilû”. [1][2]"
    report = as_report(research_result(answer, CITES))
    assert report.title == report.question == "What is Lilu?" and report.sections == []
    assert [(s.text, s.cites) for s in report.opening] == [
        ("Lilu is a demon.", [1]),
        ("It is also a wind spirit, “Lilû”.", [1, 2]),
    ]
    assert [(c.n, c.passage_id, c.title, c.quote, c.kind) for c in report.citations] == [
        (c.n, c.passage_id, c.title, c.quote, c.kind) for c in CITES
    ]
    assert answer in report.markdown()  # the same paragraph, now under a title with its sources
    text, _ = pdf_text(export(report, "pdf"))
    assert answer in text and "[2] patch:7 (patch:7): “Lilu is a wind spirit.”" in text


def test_a_written_report_is_taken_as_it_is() -> None:
    written = hostile_report()
    result = research_result("ignored [1]", CITES).model_copy(update={"report": written})
    assert as_report(result) is written


def test_markers_naming_no_citation_are_dropped_and_uncited_text_is_not_a_sentence() -> None:
    report = as_report(research_result("A demon. [1][9] Made up. [9] A spirit. [2] Trailing words", CITES))
    assert [(s.text, s.cites) for s in report.opening] == [("A demon.", [1]), ("A spirit.", [2])]
    assert report.sections == [] and "Made up" not in report.markdown() and "Trailing" not in report.markdown()


def test_a_refusal_keeps_its_words_as_a_note_with_no_citation() -> None:
    refusal = "I could not find evidence to answer “What is Lilu?”. I searched the collection for: “Lilu”."
    report = as_report(research_result(refusal, [], status="no_evidence"))
    assert report.opening == [] and report.citations == []
    assert [(s.heading, s.note, s.sentences) for s in report.sections] == [(NO_EVIDENCE_HEADING, refusal, [])]
    doc = Document(io.BytesIO(export(report, "docx")))
    assert [p.text for p in doc.paragraphs] == ["What is Lilu?", NO_EVIDENCE_HEADING, refusal]


def test_safe_line_collapses_whitespace_and_drops_what_no_file_may_hold() -> None:
    assert safe_line(" a\n\tb \x00c\u202ed\u2066e\ud800 ") == "a b cde\ufffd"
    assert safe_line("emoji 👩‍🔬 and CJK 東京 stay") == "emoji 👩‍🔬 and CJK 東京 stay"


# --- the command line ------------------------------------------------------------------------------------

PASSAGE = Passage("p-lilu", "Lilu is a masculine Semitic name for a spirit or demon.", "Lilu (mythology)")


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    with override(embedder=HashEmbedder()):
        yield CliRunner()


def test_research_out_writes_the_report_and_resume_writes_it_again_without_a_new_run(
    cli: CliRunner, tmp_path: Path
) -> None:
    llm = grounded_llm()
    with override(llm=llm, retriever=StaticRetriever([PASSAGE])):
        first = cli.invoke(
            app, ["research", "What is Lilu?", "--max-rounds", "1", "--json", "-o", str(tmp_path / "r.docx")]
        )
        assert first.exit_code == 0, first.output
        result = ResearchReport.model_validate(json.loads(first.stdout))
        calls = len(llm.calls)
        again = cli.invoke(app, ["research", "--resume", result.run_id, "--out", str(tmp_path / "again.PDF")])
    assert again.exit_code == 0, again.output
    assert len(llm.calls) == calls  # a finished run is read back, not run again
    assert f"report written to {tmp_path / 'r.docx'}" in first.stderr
    assert "report written to" in again.output and "again.PDF" in again.output
    doc = Document(str(tmp_path / "r.docx"))
    assert doc.paragraphs[0].style.name == "Heading 1" and doc.paragraphs[0].text == "What is Lilu?"
    assert doc.paragraphs[1].text == result.answer and set(markers(result.answer)) == {1}
    assert doc.paragraphs[-1].text == f"[1] {source_line(as_report(result).citations[0])}"
    text, _ = pdf_text((tmp_path / "again.PDF").read_bytes())
    assert text.startswith(f"What is Lilu? {result.answer}") and "[1] Lilu (mythology) (p-lilu)" in text


@pytest.mark.parametrize(
    ("out", "message"),
    [("report.txt", "'.txt' is not one of .md, .markdown"), ("missing/report.md", "does not exist")],
)
def test_a_bad_out_fails_before_the_run(cli: CliRunner, tmp_path: Path, out: str, message: str) -> None:
    llm = grounded_llm()
    with override(llm=llm, retriever=StaticRetriever([PASSAGE])):
        result = cli.invoke(app, ["research", "What is Lilu?", "--out", str(tmp_path / out)])
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert llm.calls == [] and list(tmp_path.iterdir()) == []
