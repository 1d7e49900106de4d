"""Benchmark of a first run's wait: indexing the bundled demo corpus on a fresh home, with the vectors shipped
in the package (`data/demo/vectors.npz`) and without them (every passage embedded, as before).

    .venv/bin/python bench/demo_index.py

The real embedder (MiniLM through FlagEmbedding) is loaded once and its load time printed on its own: both
ways pay it once in a first run (the research that follows embeds its queries with it). Each way indexes
into its own fresh SLEUTH_HOME, from `Collection.add` to BM25 written (what `sleuth research` waits for).
The shipped way runs first, so it also pays the model's first, slower forward pass (the probe check).
Then both collections' dense top-10 are compared on the demo questions.
Prints one JSON object; every ratio is measured within this run on this machine (say how loaded it was).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sleuth.config import Settings
from sleuth.retrieval.demo import CORPUS, VECTORS, demo_file
from sleuth.retrieval.embedders import load_embedder
from sleuth.retrieval.index import Collection, open_collection
from sleuth.retrieval.shipped import ShippedVectors


def index_fresh(home: Path, embedder: object, shipped: ShippedVectors | None) -> tuple[Collection, float]:
    """The demo collection indexed into the empty home `home`; and the seconds it took."""
    os.environ["SLEUTH_HOME"] = str(home)
    collection = open_collection(Settings(), "demo", embedder=embedder)  # type: ignore[arg-type]
    started = time.perf_counter()
    with demo_file(CORPUS) as corpus:
        collection.add([corpus], shipped=lambda: shipped)
    return collection, time.perf_counter() - started


def main() -> None:
    started = time.perf_counter()
    embedder = load_embedder(Settings())
    load_s = time.perf_counter() - started
    with demo_file(VECTORS) as path:
        size = path.stat().st_size
        read = time.perf_counter()
        shipped = ShippedVectors.load(path)
        read_s = time.perf_counter() - read
    assert shipped is not None, "no shipped vectors: sleuth index demo-vectors"
    with tempfile.TemporaryDirectory() as tmp:
        with_shipped, shipped_s = index_fresh(Path(tmp) / "shipped", embedder, shipped)
        without, embedded_s = index_fresh(Path(tmp) / "embedded", embedder, None)
        with demo_file("questions.jsonl") as questions:
            asked = [json.loads(line)["question"] for line in questions.read_text().splitlines() if line.strip()]
        same = sum(
            [h.passage.id for h in with_shipped.retriever("dense").search(q, 10)]
            == [h.passage.id for h in without.retriever("dense").search(q, 10)]
            for q in asked
        )
        passages = with_shipped.count
        with_shipped.close()
        without.close()
    print(
        json.dumps(
            {
                "passages": passages,
                "vectors_file_bytes": size,
                "vectors_file_read_s": round(read_s, 3),
                "model_load_s": round(load_s, 2),
                "index_with_shipped_vectors_s": round(shipped_s + read_s, 2),
                "shipped_vectors_used": shipped.used,
                "index_embedding_everything_s": round(embedded_s, 2),
                "speedup": round(embedded_s / (shipped_s + read_s), 1),
                "first_run_with_model_load_s": {
                    "shipped": round(load_s + shipped_s + read_s, 1),
                    "embedded": round(load_s + embedded_s, 1),
                },
                "questions_same_dense_top10": f"{same} of {len(asked)}",
                "load_average": os.getloadavg()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
