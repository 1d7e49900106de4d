"""Reading files into passages: formats, metadata, ids, and clear per-file / per-line errors."""

import io
import json
from pathlib import Path

from sleuth.retrieval.chunking import passage_id
from sleuth.retrieval.ingest import ChunkingConfig, collect_files, load_file

CONFIG = ChunkingConfig(chunk_size=300, chunk_overlap=50, max_file_bytes=10_000)


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF showing `text` in Helvetica (with a correct xref table)."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_jsonl_keeps_given_ids_and_metadata_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    long_text = "Long body sentence number one. " * 40
    lines = [
        json.dumps({"id": "given-1", "title": "T1", "text": long_text, "source": "hotpotqa", "year": 2001}),
        "{not json",
        json.dumps({"title": "T2", "text": "Second record without an id."}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "x", "title": "no text"}),
        "",
        json.dumps({"_id": "beir-7", "title": "B", "text": "BEIR spells the id _id."}),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    loaded = load_file(path, CONFIG)
    assert loaded.error is None
    by_id = {p.id: p for p in loaded.passages}
    # a record with an id is an already-cut passage: kept whole under its id, even when long
    assert by_id["given-1"].text == long_text.strip()
    assert by_id["given-1"].metadata == {"record_source": "hotpotqa", "year": 2001}
    assert by_id["given-1"].source == str(path.resolve())
    assert by_id[passage_id("T2", "Second record without an id.")].title == "T2"
    assert "beir-7" in by_id
    assert [e.split(":")[0] for e in loaded.warnings] == ["line 2", "line 4", "line 5"]
    assert "invalid JSON" in loaded.warnings[0]


def test_text_markdown_html_and_pdf(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Plain notes about otters. " * 30, encoding="utf-8")
    (tmp_path / "guide.md").write_text("# Otter Guide\n\nOtters hold hands while sleeping.", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        "<html><head><title>Otter Page</title><style>p{color:red}</style><script>var x=1;</script></head>"
        "<body><h1>Otters</h1><p>Sea otters use rocks as tools.</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "paper.pdf").write_bytes(_pdf("Otters have the densest fur of any animal"))
    txt = load_file(tmp_path / "notes.txt", CONFIG)
    assert len(txt.passages) > 1  # longer than chunk_size: chunked
    assert all(p.title == "notes" and len(p.text) <= 300 for p in txt.passages)
    assert [p.metadata["chunk"] for p in txt.passages] == list(range(len(txt.passages)))
    md = load_file(tmp_path / "guide.md", CONFIG).passages
    assert md[0].title == "Otter Guide"
    html = load_file(tmp_path / "page.html", CONFIG).passages
    assert html[0].title == "Otter Page"
    assert "rocks as tools" in html[0].text and "color" not in html[0].text and "var x" not in html[0].text
    pdf = load_file(tmp_path / "paper.pdf", CONFIG)
    assert pdf.error is None
    assert "densest fur" in pdf.passages[0].text and pdf.passages[0].metadata["page"] == 1


def test_bad_files_get_clear_errors(tmp_path: Path) -> None:
    cases = {
        "empty.txt": (b"", "empty file"),
        "binary.txt": (b"\x00\x01\x02binary", "binary file"),
        "latin1.txt": ("café".encode("latin-1"), "not valid UTF-8"),
        "huge.txt": (b"a" * 20_000, "file too large"),
        "broken.pdf": (b"%PDF-1.4 this is not really a pdf", "cannot read PDF"),
        "image.png": (b"\x89PNG....", "unsupported file type"),
        "blank.md": (b"   \n\n  ", "no text found"),
    }
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        loaded = load_file(tmp_path / name, CONFIG)
        assert loaded.error is not None and expected in loaded.error, (name, loaded.error)
        assert loaded.passages == []
    assert "no such file" in (load_file(tmp_path / "missing.txt", CONFIG).error or "")


def test_directories_are_walked_in_order_skipping_hidden_and_unsupported(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.md").write_text("two")
    (tmp_path / "one.txt").write_text("one")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("hidden")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    files, ignored = collect_files([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["b/two.md", "one.txt"]
    assert [f.name for f in ignored] == ["photo.jpg"]


def test_a_repeated_id_in_one_jsonl_is_a_line_warning(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"id": "x", "text": "The first record x."}),
        json.dumps({"id": "y", "text": "Record y."}),
        json.dumps({"_id": "x", "text": "A second record x, with other text."}),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    loaded = load_file(path, CONFIG)
    assert [(p.id, p.text) for p in loaded.passages] == [("x", "The first record x."), ("y", "Record y.")]
    assert loaded.warnings == ["line 3: duplicate id 'x' (first on line 1): skipped"]


def test_a_huge_record_with_an_id_is_chunked_under_its_id(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    normal = "A normal passage sentence. " * 100  # 2,700 characters: longer than a chunk, still one passage
    huge = "".join(f"Sentence {n} of a record far too long to be one passage. " for n in range(40_000))
    assert len(huge) > 2_000_000
    lines = [
        json.dumps({"id": "normal", "title": "N", "text": normal}),
        json.dumps({"id": "huge", "title": "H", "text": huge, "year": 1999}),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    config = ChunkingConfig(chunk_size=1200, chunk_overlap=200, max_file_bytes=10_000_000)
    loaded = load_file(path, config)
    assert loaded.error is None and loaded.warnings == []
    assert loaded.passages[0].id == "normal" and loaded.passages[0].text == normal.strip()
    chunks = loaded.passages[1:]
    assert [p.id for p in chunks[:3]] == ["huge", "huge#2", "huge#3"] and chunks[-1].id == f"huge#{len(chunks)}"
    assert len(chunks) > 1_500 and max(len(p.text) for p in chunks) <= 1200
    assert chunks[1].metadata == {"year": 1999, "chunk": 1} and chunks[1].title == "H"
    assert loaded.chunked == [
        f"line 2: record 'huge' ({len(huge.strip()):,} characters) split into {len(chunks)} passages"
    ]


def test_an_encrypted_pdf_needs_its_password_unless_the_password_is_empty(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    for password, expected in (("secret", None), ("", "Otters are clever")):
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf("Otters are clever"))))
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
        writer.write(tmp_path / "locked.pdf")
        loaded = load_file(tmp_path / "locked.pdf", CONFIG)
        if expected is None:
            assert loaded.error is not None and "encrypted PDF" in loaded.error and loaded.passages == []
        else:
            assert loaded.error is None and loaded.passages[0].text == expected
