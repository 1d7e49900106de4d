import itertools

from sleuth.retrieval.chunking import chunk_text, passage_id


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("  a short note.  ", 100, 20) == ["a short note."]
    assert chunk_text("   ", 100, 20) == []


def test_chunks_respect_size_overlap_and_word_boundaries() -> None:
    words = [f"word{i}" for i in range(400)]
    text = " ".join(words)
    chunks = chunk_text(text, 200, 50)
    assert all(len(c) <= 200 for c in chunks)
    # every chunk starts and ends on a whole word
    vocabulary = set(words)
    for chunk in chunks:
        assert set(chunk.split()) <= vocabulary
    # consecutive chunks overlap, and together they cover every word in order
    for left, right in itertools.pairwise(chunks):
        assert left.split()[-1] in right.split()[:12]
    covered = []
    for chunk in chunks:
        covered.extend(w for w in chunk.split() if not covered or int(w[4:]) > int(covered[-1][4:]))
    assert covered == words


def test_chunks_prefer_paragraph_and_sentence_breaks() -> None:
    text = "First paragraph is here. " * 3 + "\n\n" + "Second paragraph follows. " * 3
    chunks = chunk_text(text, 100, 10)
    assert chunks[0].endswith("here.")
    assert chunks[1].startswith("Second") or "Second" in chunks[1][:30]


def test_passage_id_matches_shared_data_convention() -> None:
    # the first line of /work/shared/data/multihop_dev/corpus.jsonl
    title = "...Earth to the Dandy Warhols..."
    text = (
        "...Earth to the Dandy Warhols... is the sixth studio album by American alternative rock band The "
        "Dandy Warhols, recorded in 2008 and released on May 19, 2008 and is the first album released on "
        "their self-founded Beat the World Records label, after leaving Capitol Records in 2007."
    )
    assert passage_id(title, text) == "fb1536bad6d46ad5"
