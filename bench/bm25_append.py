"""Benchmark of adding passages to a collection's BM25 index: extending it vs rebuilding it in full.

    .venv/bin/python bench/bm25_append.py [--sizes 10000 100000] [--batch 1000] [--queries 50]

For each corpus size N, a real passage store (SQLite) holds N synthetic passages (50-150 words drawn from
a Zipf(1.1) vocabulary of 50,000 pseudo-words, about a Wikipedia paragraph); then a file of `--batch` new
passages is committed, and the time to bring BM25 up to date is measured three ways, each from reading
the store to the index written on disk (what `Collection.add` waits for):
- rebuild, as before this change: every passage read and tokenised, `bm25s.BM25.index`, saved;
- rebuild, now: the same through our term counts (`TermCounts`), which is also how a rebuild is done now;
- extend (what an add does now): the new passages read and tokenised, the counts extended, saved.
Then it checks, on `--queries` queries, that the extended index ranks exactly as a fresh build.
Prints one table; every ratio is measured within this run on this machine (say how loaded it was).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import synthetic_queries, vocabulary, zipf_ranks  # bench/retrieval.py

from sleuth.retrieval.base import Passage
from sleuth.retrieval.bm25 import BM25Files, BM25Index, BM25Params, Tokenizer, _new_model
from sleuth.retrieval.bm25_sync import BM25Sync
from sleuth.retrieval.store import PassageStore


def passages(count: int, start: int, seed: int) -> list[Passage]:
    """`count` synthetic passages of 50-150 words, ids p<start>, p<start + 1>, ..."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    lengths = rng.integers(50, 151, size=count)
    ranks = zipf_ranks(rng, int(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return [
        Passage(
            id=f"p{start + i}",
            title=words[ranks[offsets[i]]],
            text=" ".join(words[r] for r in ranks[offsets[i] : offsets[i + 1]]),
            source=f"file{(start + i) // 10_000}.jsonl",
        )
        for i in range(count)
    ]


def fill(store: PassageStore, count: int) -> None:
    for start in range(0, count, 10_000):
        batch = passages(min(10_000, count - start), start, seed=start)
        store.replace_source(batch[0].source, f"digest{start}", batch)


def rebuild_with_bm25s(store: PassageStore, root: Path, tokenizer: Tokenizer) -> float:
    """The rebuild `Collection` did before term counts: seconds from the store snapshot to files written."""
    t0 = time.perf_counter()
    mark, stored = store.snapshot()
    tokens = [tokenizer(f"{p.title}\n{p.text}") for p in stored]
    model = _new_model(BM25Params(), len(tokens))
    model.index(tokens, show_progress=False)
    index = BM25Index(model, tokenizer, BM25Params(), len(tokens))
    BM25Files(root).write(index, [p.id for p in stored], mark.generation)
    return time.perf_counter() - t0


def bench_size(size: int, batch: int, queries: list[str], home: Path) -> dict[str, float]:
    tokenizer = Tokenizer()
    store = PassageStore(home / f"store-{size}.sqlite")
    fill(store, size)
    sync = BM25Sync(store, BM25Files(home / f"bm25-{size}"), tokenizer)
    sync.current()  # the index of the N passages (also warms the tokeniser's stem cache)
    store.replace_source("new.jsonl", "digest-new", passages(batch, size, seed=10**6))

    old_rebuild = rebuild_with_bm25s(store, home / f"old-{size}", tokenizer)

    t0 = time.perf_counter()
    rebuilt = BM25Sync(store, BM25Files(home / f"rebuilt-{size}"), tokenizer).current()
    new_rebuild = time.perf_counter() - t0

    t0 = time.perf_counter()
    extended = sync.current()
    extend = time.perf_counter() - t0
    assert sync.extended == 1 and sync.rebuilt == 1

    same = sum(
        [(extended.ids[d], s) for d, s in extended.index.search(q, 10)]
        == [(rebuilt.ids[d], s) for d, s in rebuilt.index.search(q, 10)]
        for q in queries
    )
    store.close()
    for folder in home.iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    return {
        "passages": size,
        "added": batch,
        "rebuild_bm25s_s": old_rebuild,
        "rebuild_counts_s": new_rebuild,
        "extend_s": extend,
        "speedup_vs_before": old_rebuild / extend,
        "speedup_vs_rebuild_now": new_rebuild / extend,
        "same_rankings": same,
        "queries": len(queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=1_000, help="passages added to the N in the store")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    queries = synthetic_queries(args.queries)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-") as tmp:
        for size in args.sizes:
            rows.append(bench_size(size, args.batch, queries, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    _table(rows)


def _table(rows: list[dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="BM25 after adding passages: extend vs full rebuild (store read to files written)")
    for column in ("passages", "added", "rebuild before (bm25s)", "rebuild now", "extend", "speed-up", "rankings"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['passages']:,}",
            f"{row['added']:,}",
            f"{row['rebuild_bm25s_s']:.2f} s",
            f"{row['rebuild_counts_s']:.2f} s",
            f"{row['extend_s']:.2f} s",
            f"{row['speedup_vs_before']:.0f}x / {row['speedup_vs_rebuild_now']:.0f}x",
            f"{row['same_rankings']}/{row['queries']} same",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
