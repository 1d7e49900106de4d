"""Benchmark of retrieval: BM25 query latency against rank-bm25, hybrid latency, indexing throughput.

    .venv/bin/python bench/retrieval.py [--sizes 100000 1000000] [--queries 200] [--encode-n 2000]

Synthetic corpora: words drawn from a Zipf(1.1) vocabulary of 50,000 pseudo-words, 10-50 words a passage;
queries: 2-6 words from the same distribution minus its 20 most frequent words.
Prints one table; every ratio is measured within this run on this machine (say how loaded it was).
- BM25 p50: our `BM25Index` (bm25s; numba backend at these sizes) vs rank-bm25's `BM25Okapi.get_scores` +
  top-k, on the same token lists. At 1M rank-bm25 takes ~1.5 s a query, so it runs a few queries only.
- hybrid p50 at 100k: a real `Collection` (SQLite store, BM25, embedded Chroma, RRF). Passage vectors are
  random unit vectors (embedding 100k passages with MiniLM on 2 CPU cores would take hours); each query is
  embedded with the real MiniLM model, so the query-side cost is real.
- indexing: `Collection.add` of a jsonl file end to end with MiniLM vs `FlagModel.encode` on the same texts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sleuth.config import Settings
from sleuth.retrieval.bm25 import BM25Index, BM25Params, Tokenizer

VOCAB = 50_000
_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "do", "su", "fa", "gu", "hi", "ja", "bo"]


def vocabulary(size: int = VOCAB) -> list[str]:
    """Distinct pseudo-words of 3-5 syllables (no English stop word among them)."""
    words = []
    for i in range(size):
        digits, n = [], i + 16**2  # at least 3 syllables
        while n:
            n, d = divmod(n, 16)
            digits.append(_SYLLABLES[d])
        words.append("".join(digits))
    return words


def zipf_ranks(rng: np.random.Generator, count: int, vocab: int = VOCAB, s: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, vocab + 1) ** s
    cumulative = np.cumsum(weights / weights.sum())
    return np.searchsorted(cumulative, rng.random(count)).astype(np.int32)


def synthetic_tokens(n_docs: int, seed: int = 0) -> list[list[str]]:
    """Token lists of `n_docs` passages (generated in blocks to keep 1M memory-sane)."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    docs: list[list[str]] = []
    for start in range(0, n_docs, 100_000):
        block = min(100_000, n_docs - start)
        lengths = rng.integers(10, 51, size=block)
        ranks = zipf_ranks(rng, int(lengths.sum()))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        docs.extend([words[r] for r in ranks[offsets[i] : offsets[i + 1]]] for i in range(block))
    return docs


def synthetic_queries(n: int, seed: int = 1) -> list[str]:
    """2-6 word queries drawn from the same Zipf distribution, without its 20 most frequent words (the
    stop-word band a real tokeniser drops): typical queries mix common and rare words."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    out = []
    for _ in range(n):
        ranks = 20 + zipf_ranks(rng, int(rng.integers(2, 7)), VOCAB - 20)
        out.append(" ".join(words[r] for r in ranks))
    return out


def p50_ms(fn, items: list) -> float:  # type: ignore[no-untyped-def]
    """Median wall-clock milliseconds of fn(item)."""
    return timed(fn, items)[0]


def timed(fn, items: list) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall-clock and median CPU (this process) milliseconds of fn(item).

    On a shared, loaded machine wall time includes waiting for a core; CPU time is what the query costs.
    """
    wall, cpu = [], []
    for item in items:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(item)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def bench_bm25(n_docs: int, queries: list[str], reference_queries: int) -> dict[str, float]:
    from rank_bm25 import BM25Okapi

    t0 = time.perf_counter()
    tokens = synthetic_tokens(n_docs)
    generated = time.perf_counter() - t0
    tokenizer = Tokenizer()
    t0 = time.perf_counter()
    ours = BM25Index.from_tokens(tokens, BM25Params(method="robertson"), tokenizer)
    build_ours = time.perf_counter() - t0
    for query in queries[:5]:  # warm-up: numba JIT, caches
        ours.search(query, 10)
    ours_p50, ours_cpu = timed(lambda q: ours.search(q, 10), queries)
    t0 = time.perf_counter()
    reference = BM25Okapi(tokens)
    build_ref = time.perf_counter() - t0
    del tokens
    gc.collect()
    ref_queries = queries[:reference_queries]
    ref_p50, ref_cpu = timed(lambda q: np.argsort(reference.get_scores(tokenizer(q)))[::-1][:10], ref_queries)
    # same top-1 where both find something (a sanity check that the two compute the same thing)
    same = sum(
        ours.search(q, 1)[0][0] == int(np.argmax(reference.get_scores(tokenizer(q))))
        for q in ref_queries
        if ours.search(q, 1)
    )
    return {
        "docs": n_docs,
        "generate_s": generated,
        "build_ours_s": build_ours,
        "build_rank_bm25_s": build_ref,
        "ours_p50_ms": ours_p50,
        "rank_bm25_p50_ms": ref_p50,
        "speedup": ref_p50 / ours_p50,
        "ours_cpu_p50_ms": ours_cpu,
        "rank_bm25_cpu_p50_ms": ref_cpu,
        "speedup_cpu": ref_cpu / ours_cpu,
        "queries_ours": len(queries),
        "queries_rank_bm25": len(ref_queries),
        "same_top1": same,
    }


class _RandomPassagesRealQueries:
    """Random unit vectors for passage batches (fast); the real model for single texts (queries)."""

    def __init__(self, real: object, seed: int = 2) -> None:
        self.real = real
        self.dim = real.dim  # type: ignore[attr-defined]
        self.name = getattr(real, "name", "real")
        self._rng = np.random.default_rng(seed)

    def embed(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.real.embed(texts)  # type: ignore[attr-defined]
        vectors = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _write_jsonl(path: Path, n_docs: int, seed: int = 0) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i, tokens in enumerate(synthetic_tokens(n_docs, seed)):
            out.write(json.dumps({"id": f"d{i}", "title": tokens[0], "text": " ".join(tokens)}) + "\n")


def bench_hybrid(n_docs: int, queries: list[str], embedder: object, home: Path) -> dict[str, float]:
    from sleuth.retrieval.index import open_collection

    settings = Settings(home=home, max_file_bytes=10**9)
    corpus = home / f"synthetic-{n_docs}.jsonl"
    _write_jsonl(corpus, n_docs)
    collection = open_collection(settings, f"bench-{n_docs}", embedder=_RandomPassagesRealQueries(embedder))
    t0 = time.perf_counter()
    collection.add([corpus])
    build = time.perf_counter() - t0
    hybrid, bm25, dense = (collection.retriever(m) for m in ("hybrid", "bm25", "dense"))
    for query in queries[:5]:
        hybrid.search(query, 10)
    return {
        "docs": n_docs,
        "build_s": build,
        "hybrid_p50_ms": p50_ms(lambda q: hybrid.search(q, 10), queries),
        "bm25_p50_ms": p50_ms(lambda q: bm25.search(q, 10), queries),
        "dense_p50_ms": p50_ms(lambda q: dense.search(q, 10), queries),
        "query_embed_p50_ms": p50_ms(lambda q: embedder.embed([q]), queries),
    }  # type: ignore[attr-defined]


def bench_indexing(n_docs: int, embedder: object, home: Path) -> dict[str, float]:
    from sleuth.retrieval.index import open_collection

    corpus = home / f"encode-{n_docs}.jsonl"
    _write_jsonl(corpus, n_docs, seed=5)
    texts = [f"{r['title']}\n{r['text']}" for r in map(json.loads, corpus.read_text().splitlines())]
    t0 = time.perf_counter()
    embedder._model.encode(texts, batch_size=embedder.batch_size)  # type: ignore[attr-defined]
    raw = time.perf_counter() - t0
    collection = open_collection(Settings(home=home), f"encode-{n_docs}", embedder=embedder)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    collection.add([corpus])
    ours = time.perf_counter() - t0
    return {
        "docs": n_docs,
        "raw_flagmodel_s": raw,
        "end_to_end_s": ours,
        "raw_per_s": n_docs / raw,
        "end_to_end_per_s": n_docs / ours,
        "ratio": ours / raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reference-queries-1m", type=int, default=5)
    parser.add_argument("--hybrid-docs", type=int, default=100_000)
    parser.add_argument("--encode-n", type=int, default=2000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["bm25", "hybrid", "indexing"])
    args = parser.parse_args()
    queries = synthetic_queries(args.queries)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    results: dict[str, object] = {}
    if "bm25" not in args.skip:
        for size in args.sizes:
            ref_n = args.queries if size < 500_000 else args.reference_queries_1m
            results[f"bm25@{size}"] = row = bench_bm25(size, queries, ref_n)
            print(json.dumps({f"bm25@{size}": row}), flush=True)
    embedder = None
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-") as tmp:
        if "hybrid" not in args.skip or "indexing" not in args.skip:
            from sleuth.retrieval.embedders import load_embedder

            embedder = load_embedder(Settings(home=Path(tmp)))
        if "hybrid" not in args.skip:
            results["hybrid"] = row = bench_hybrid(args.hybrid_docs, queries[:100], embedder, Path(tmp))
            print(json.dumps({"hybrid": row}), flush=True)
        if "indexing" not in args.skip:
            results["indexing"] = row = bench_indexing(args.encode_n, embedder, Path(tmp))
            print(json.dumps({"indexing": row}), flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    _table(results)


def _table(results: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sleuth retrieval benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, row in results.items():
        assert isinstance(row, dict)
        if key.startswith("bm25@"):
            table.add_row(
                f"BM25 p50 @ {row['docs']:,} docs (ours, bm25s) wall / cpu",
                f"{row['ours_p50_ms']:.2f} / {row['ours_cpu_p50_ms']:.2f} ms",
            )
            table.add_row(
                f"BM25 p50 @ {row['docs']:,} docs (rank-bm25, {row['queries_rank_bm25']} queries) wall / cpu",
                f"{row['rank_bm25_p50_ms']:.1f} / {row['rank_bm25_cpu_p50_ms']:.1f} ms",
            )
            table.add_row(
                f"  speed-up @ {row['docs']:,} wall / cpu", f"{row['speedup']:.0f}x / {row['speedup_cpu']:.0f}x"
            )
            table.add_row(f"  same top-1 @ {row['docs']:,}", f"{row['same_top1']}/{row['queries_rank_bm25']}")
        elif key == "hybrid":
            table.add_row(
                f"hybrid p50 @ {row['docs']:,} (random passage vectors, real query embedding)",
                f"{row['hybrid_p50_ms']:.1f} ms",
            )
            table.add_row(
                "  of which: bm25 / dense / query embedding p50",
                f"{row['bm25_p50_ms']:.1f} / {row['dense_p50_ms']:.1f} / {row['query_embed_p50_ms']:.1f} ms",
            )
        elif key == "indexing":
            table.add_row(f"indexing {row['docs']:,} passages end to end", f"{row['end_to_end_per_s']:.1f} /s")
            table.add_row("raw FlagModel.encode, same texts", f"{row['raw_per_s']:.1f} /s")
            table.add_row("  end-to-end time / raw encode time", f"{row['ratio']:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
