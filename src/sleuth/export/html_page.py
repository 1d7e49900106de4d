"""A report as one self-contained HTML page: inline CSS, no script, nothing fetched, every text escaped."""

from __future__ import annotations

from html import escape

from sleuth.agents.records import Citation
from sleuth.agents.research.report import Report, ReportSentence
from sleuth.export.safe_text import source_parts

# Defence in depth: should any markup ever slip through, the page may still run no script and load nothing.
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STYLE = """
body { font: 16px/1.6 Georgia, "DejaVu Serif", serif; color: #1d1d1f; background: #fff; margin: 0; }
main { max-width: 46rem; margin: 2.5rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: 0 0 1.2rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.6rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
a.cite { font-size: 0.8em; vertical-align: super; line-height: 0; text-decoration: none; color: #1a56a8; }
.note { font-style: italic; color: #555; }
ol.sources { padding-left: 2rem; font-size: 0.92rem; }
ol.sources li { margin-bottom: 0.5rem; overflow-wrap: anywhere; }
ol.sources li:target { background: #fff6d5; }
@media print { a { color: inherit; } main { margin: 0 auto; } }
"""


def render(report: Report) -> bytes:
    """The page: `<h1>` title, the opening, an `<h2>` per section, then the sources list.

    Each `[n]` marker links to `#source-n`, the list item of citation n. A source's url is a link only when
    it is an http(s) address (`safe_text.web_url`).
    """
    known = {c.n for c in report.citations}
    body = [f"<h1>{_text(report.title)}</h1>"]
    if report.opening:
        body.append(_paragraph(report.opening, known))
    for section in report.sections:
        body.append(f"<h2>{_text(section.heading)}</h2>")
        if section.sentences:
            body.append(_paragraph(section.sentences, known))
        else:
            body.append(f'<p class="note">{_text(section.note)}</p>')
    if report.citations:
        body.append('<h2 id="sources">Sources</h2>')
        body.append('<ol class="sources">\n' + "\n".join(_source(c) for c in report.citations) + "\n</ol>")
    lang = ' lang="en"' if report.language == "English" else ""
    page = f"""<!DOCTYPE html>
<html{lang}>
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="sleuth">
<title>{_text(report.title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
{chr(10).join(body)}
</main>
</body>
</html>
"""
    return page.encode("utf-8")


def _text(text: str) -> str:
    return escape(text, quote=True)


def _paragraph(sentences: list[ReportSentence], known: set[int]) -> str:
    cited = (f"{_text(s.text)} {''.join(_marker(n, known) for n in s.cites)}" for s in sentences)
    return f"<p>{' '.join(cited)}</p>"


def _marker(n: int, known: set[int]) -> str:
    if n not in known:  # a number with no citation to point at is shown, never linked to nowhere
        return f'<span class="cite">[{n}]</span>'
    return f'<a class="cite" href="#source-{n}">[{n}]</a>'


def _source(c: Citation) -> str:
    pieces = "".join(
        f'<a href="{_text(link)}" rel="noopener noreferrer nofollow">{_text(text)}</a>' if link else _text(text)
        for text, link in source_parts(c)
    )
    return f'<li id="source-{c.n}" value="{c.n}">{pieces}</li>'
