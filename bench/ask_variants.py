"""Compare the ask agent's always-search, free-search and closed-book prompts on multihop_dev questions.

Same model for all three (`sleuth.llm.connect(Settings())`: SLEUTH_LLM_BASE_URL or the embedded model),
same collection (the multihop_dev corpus indexed with the default MiniLM embedder, hybrid retrieval).
Prints EM, F1, cover match, searches and turns per question, and how runs ended, per variant.

    .venv/bin/python bench/ask_variants.py --n 20 --out /tmp/ask_variants.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from sleuth.agents.ask.loop import run_ask
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventLog
from sleuth.agents.results import VARIANTS
from sleuth.config import Settings
from sleuth.evals.metrics import answer_scores
from sleuth.llm import connect
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.index import open_collection

DATA = Path("/work/shared/data/multihop_dev")


def index_corpus(settings: Settings, name: str, corpus: Path):  # type: ignore[no-untyped-def]
    """Open the collection, indexing the corpus first if needed (unchanged files are skipped)."""
    collection = open_collection(settings, name)
    started = time.perf_counter()
    report = collection.add([corpus], lambda done, total: print(f"\r  indexed {done}/{total}", end="", flush=True))
    if report.errors:
        raise SystemExit(f"cannot index {corpus}: {report.errors[0].error}")
    print(f"\ncollection {name!r}: {collection.count} passages ({time.perf_counter() - started:.0f}s)")
    return collection


async def run_one(variant: str, q: dict[str, Any], deps: AgentDeps) -> dict[str, Any]:
    """One question with one variant, scored; a failure scores 0 and is kept with its error."""
    row: dict[str, Any] = {"id": q["id"], "variant": variant, "question": q["question"], "gold": q["answers"]}
    try:
        result = await run_ask(q["question"], deps, variant=variant)  # type: ignore[arg-type]
    except Exception as exc:  # one failure must not lose the run
        row.update(
            answer="",
            error=f"{type(exc).__name__}: {exc}",
            searches=0,
            turns=0,
            finish="error",
            em=0.0,
            f1=0.0,
            cover=0.0,
            latency_s=0.0,
            tagless=0,
        )
        print(f"  [{variant}] ERROR {row['error'][:120]}", flush=True)
        return row
    lookup = deps.lookup or (lambda _id: None)
    titles = {p.title for call in result.search_calls for p in map(lookup, call.hit_ids) if p}
    gold_titles = set(q.get("supporting_titles", []))
    row.update(
        answer=result.answer,
        searches=len(result.search_calls),
        turns=result.turns,
        finish=result.finish,
        latency_s=result.latency_s,
        queries=[s.query for s in result.search_calls],
        tagless=sum(
            1 for e in result.events if e.type == "warning" and "no <search>" in e.data.get("message", "")
        ),
        gold_title_recall=(len(gold_titles & titles) / len(gold_titles)) if gold_titles else None,
        **answer_scores(result.answer, q["answers"]),
    )
    print(
        f"  [{variant:6}] em={row['em']:.0f} f1={row['f1']:.2f} s={row['searches']} {result.latency_s:6.1f}s "
        f"{result.answer[:40]!r} (gold {q['answers'][0][:30]!r})",
        flush=True,
    )
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    recalls = [r["gold_title_recall"] for r in rows if r.get("gold_title_recall") is not None]
    return {
        "n": len(rows),
        "em": round(100 * statistics.mean(r["em"] for r in rows), 1),
        "f1": round(100 * statistics.mean(r["f1"] for r in rows), 1),
        "cover": round(100 * statistics.mean(r["cover"] for r in rows), 1),
        "searches_per_q": round(statistics.mean(r["searches"] for r in rows), 2),
        "turns_per_q": round(statistics.mean(r["turns"] for r in rows), 2),
        "gold_title_recall": round(100 * statistics.mean(recalls), 1) if recalls else None,
        "finish": {
            k: sum(1 for r in rows if r["finish"] == k)
            for k in ("answer", "time_up", "untagged", "fallback", "error")
        },
        "tagless_replies": sum(r.get("tagless", 0) for r in rows),
        "latency_s_per_q": round(statistics.mean(r["latency_s"] for r in rows), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="questions (the first N of questions.jsonl)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--collection", default="multihop")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--k", type=int, default=5, help="passages per search given to the summariser")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="questions in flight (embedded server: 2 slots)"
    )
    parser.add_argument("--out", type=Path, help="write per-question rows and the summary as JSON")
    args = parser.parse_args()

    settings = Settings(search_k=args.k)
    questions = [json.loads(line) for line in (args.data / "questions.jsonl").open()][: args.n]
    collection = index_corpus(settings, args.collection, args.data / "corpus.jsonl")
    retriever = collection.retriever("hybrid")
    retriever.search("warm up the embedder", 1)
    prompts = load_prompt_set()
    results: dict[str, Any] = {
        "settings": {
            "k": args.k,
            "ask_max_turns": settings.ask_max_turns,
            "prompt_set": prompts.hash,
            "n": len(questions),
        },
        "variants": {},
    }
    variants = args.variants.split(",")
    rows: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    started = time.perf_counter()
    async with connect(settings) as llm:
        limit = asyncio.Semaphore(args.concurrency)

        async def question(i: int, q: dict[str, Any]) -> None:
            # All variants of one question run together, so a run cut short still compares like with like.
            async with limit:
                print(f"[{i + 1}/{len(questions)}] {q['question'][:90]}", flush=True)
                for variant in variants:
                    deps = AgentDeps(
                        llm=llm,
                        retriever=retriever,
                        prompts=prompts,
                        settings=settings,
                        events=EventLog(),
                        collection=args.collection,
                        lookup=collection.get,
                    )
                    rows[variant].append(await run_one(variant, q, deps))
                write()

        def write() -> None:
            done = min(len(r) for r in rows.values())
            results["variants"] = {v: {"summary": summarise(r), "rows": r} for v, r in rows.items() if r}
            results["settings"]["completed"] = done
            results["settings"]["wall_s"] = round(time.perf_counter() - started, 1)
            if args.out:
                args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))

        await asyncio.gather(*(question(i, q) for i, q in enumerate(questions)))
    collection.close()

    print(
        f"\n{'variant':8} {'EM':>6} {'F1':>6} {'cover':>6} {'search/q':>9} {'turns/q':>8} {'goldT%':>7} {'s/q':>6}"
    )
    for variant, block in results["variants"].items():
        s = block["summary"]
        print(
            f"{variant:8} {s['em']:6.1f} {s['f1']:6.1f} {s['cover']:6.1f} {s['searches_per_q']:9.2f} "
            f"{s['turns_per_q']:8.2f} {s['gold_title_recall'] or 0:7.1f} {s['latency_s_per_q']:6.1f}"
        )
    print(f"wall time {results['settings']['wall_s']}s; rows in {args.out}" if args.out else "")


if __name__ == "__main__":
    asyncio.run(main())
