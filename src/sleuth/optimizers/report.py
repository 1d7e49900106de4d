"""The report of an optimization job, one for all its methods: the splits, the test result of each method's
winner against the seed with its 95% paired-bootstrap interval, the cost, the refused proposals, and per
method the candidates, gepa's candidate tree, the iterations and the winning prompts' diff; as JSON, Markdown
and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gepa.visualization import candidate_tree_dot_from_data, candidate_tree_html_from_data

from sleuth.evals.datasets import QAExample
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.events import prompt_lengths
from sleuth.optimizers.methods import MethodResult
from sleuth.optimizers.plot import plot
from sleuth.optimizers.splits import Split, disjoint
from sleuth.prompts.sets import PromptSet, diff


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _split_scores(subscores: dict[int, float], n_val: int) -> tuple[float | None, float | None]:
    """Mean over the plain validation questions and over the correction questions (indices >= n_val)."""
    plain = [v for k, v in subscores.items() if k < n_val]
    corrections = [v for k, v in subscores.items() if k >= n_val]
    return _mean(plain), _mean(corrections)


def _history(path: Path, method: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("method") == method and r.get("event") != "budget"]


def method_report(
    config: OptimizeConfig,
    result: MethodResult,
    seed_set: PromptSet,
    best_set: PromptSet,
    split: Split,
    corrections: list[QAExample],
) -> dict[str, Any]:
    """One method's part of the report (also writes its candidate tree as HTML into `OUT/<method>/`)."""
    outcome = result.outcome
    n_val = len(split.val)
    front = set(outcome.front)
    candidates = []
    for i, candidate in enumerate(outcome.candidates):
        plain, corr = (
            _split_scores(outcome.val_subscores[i], n_val) if i < len(outcome.val_subscores) else (None, None)
        )
        candidates.append(
            {
                "index": i,
                "parents": outcome.parents[i],
                "val_score": outcome.val_scores[i],
                "val_plain": plain,
                "val_corrections": corr,
                "discovered_at_metric_calls": outcome.discovered_at[i],
                "prompt_chars": prompt_lengths(candidate),
                "on_pareto_front": i in front,
            }
        )
    best = outcome.best_idx
    seed_plain, seed_corr = _split_scores(outcome.val_subscores[0], n_val)
    best_plain, best_corr = _split_scores(outcome.val_subscores[best], n_val)
    tree = (outcome.candidates, outcome.parents, outcome.val_scores, outcome.pareto)
    tree_html = config.out / result.method / "candidate_tree.html"
    tree_html.write_text(candidate_tree_html_from_data(*tree), encoding="utf-8")
    counts = result.counts
    val_ids = [e.id for e in [*split.val, *corrections]]
    return {
        "method": result.method,
        "metric_calls_used": outcome.total_metric_calls,
        "stopped_by": outcome.stopped_by,
        "agent_runs": counts.get("agent_runs", 0),
        "reflection_calls": counts.get("reflection_calls", 0),
        # A reflection model the price table does not name costs "n/a", never a made-up 0.
        "reflection_cost_usd": None
        if counts.get("reflection_unpriced")
        else counts.get("reflection_cost_usd", 0.0),
        "refused_proposals": counts.get("guard", {}),
        "best_candidate": best,
        "best_hash": best_set.hash,
        "seed_val_score": seed_plain,
        "best_val_score": best_plain,
        "seed_corrections_val_score": seed_corr,
        "best_corrections_val_score": best_corr,
        "test": result.test.to_json(),
        "corrections_test": result.corrections.to_json(),
        "candidates": candidates,
        "pareto_front": sorted(front),
        "pareto_by_val_question": {
            val_ids[k]: sorted(v) for k, v in sorted(outcome.pareto.items()) if k < len(val_ids)
        },
        "candidate_tree_dot": candidate_tree_dot_from_data(*tree),
        "candidate_tree_html": str(tree_html),
        "iterations": _history(config.out / "history.jsonl", result.method),
        "diff_vs_seed": diff(
            PromptSet(dict(outcome.candidates[0]), seed_set.name),
            PromptSet(dict(outcome.candidates[best]), "best"),
        ),
    }


def build_report(
    config: OptimizeConfig,
    seed_set: PromptSet,
    split: Split,
    corrections: list[QAExample],
    results: dict[str, MethodResult],
    best_sets: dict[str, PromptSet],
    *,
    warnings: list[str],
    caps: dict[str, int],
) -> dict[str, Any]:
    methods = {m: method_report(config, r, seed_set, best_sets[m], split, corrections) for m, r in results.items()}
    return {
        "agent": config.agent,
        "strategy": config.strategy if config.agent == "ask" else None,
        "metric": config.metric,
        "dataset": config.dataset,
        "seed_set": seed_set.name,
        "seed_hash": seed_set.hash,
        "roles": sorted(next(iter(results.values())).outcome.candidates[0]),
        "prompt_caps": caps,
        "budget_metric_calls": config.budget,
        "split": {
            "train": len(split.train),
            "val": len(split.val),
            "test": len(split.test),
            "corrections": len(corrections),
            "seed": split.seed,
            "disjoint": disjoint(split),
            "joined_by_shared_passages": split.joined,
            "repeated_questions_dropped": len(split.repeated),
        },
        "warnings": warnings,
        "comparison": [
            {
                "method": m,
                "val": [r["seed_val_score"], r["best_val_score"]],
                "test": [r["test"]["seed"], r["test"]["best"]],
                "test_delta": r["test"]["delta"],
                "test_changed": [len(r["test"]["improved"]), len(r["test"]["regressed"])],
                "metric_calls": r["metric_calls_used"],
                "agent_runs": r["agent_runs"],
                "reflection_calls": r["reflection_calls"],
                "refused_proposals": sum(r["refused_proposals"].values()),
                "stopped_by": r["stopped_by"],
            }
            for m, r in methods.items()
        ],
        "methods": methods,
    }


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _delta(delta: dict[str, Any] | None) -> str:
    if delta is None:
        return "n/a (no questions)"
    return f"{delta['mean']:+.3f} [{delta['low']:+.3f}, {delta['high']:+.3f}]" + (
        " **excludes 0**" if delta["excludes_zero"] else ""
    )


def power_notes(comparison: list[dict[str, Any]], test_size: int) -> list[str]:
    """For each test interval that covers zero: how many test questions the measured difference would need to
    show, so a reader can tell a test set too small from a difference that is noise at any size."""
    notes = []
    for row in comparison:
        delta = row["test_delta"]
        needed = delta and not delta["excludes_zero"] and delta.get("questions_needed")
        if needed:
            notes.append(
                f"{row['method']}: the interval covers zero; a difference of {delta['mean']:+.3f} with this spread "
                f"(sd {delta['sd']:.3f} per question) needs about {needed} test questions to exclude it "
                f"(this test has {test_size})"
            )
    return notes


def _method_markdown(report: dict[str, Any], m: dict[str, Any]) -> list[str]:
    lines = [
        f"## {m['method']}",
        "",
        f"- stopped by: {m['stopped_by'] or 'n/a'}; {m['metric_calls_used']} metric calls, {m['agent_runs']} agent "
        f"runs, {m['reflection_calls']} reflection calls (cost {_fmt(m['reflection_cost_usd'])} USD)",
        f"- refused proposals: {', '.join(f'{k} {v}' for k, v in sorted(m['refused_proposals'].items())) or 'none'}",
        f"- best candidate {m['best_candidate']} ({m['best_hash']}): validation {_fmt(m['seed_val_score'])} -> "
        f"{_fmt(m['best_val_score'])}; test {_fmt(m['test']['seed'])} -> {_fmt(m['test']['best'])}, "
        f"difference {_delta(m['test']['delta'])}",
    ]
    if m["corrections_test"]["questions"]:
        c = m["corrections_test"]
        lines.append(
            f"- correction questions (never regress): {_fmt(c['seed'])} -> {_fmt(c['best'])}"
            + (f" **regressed: {', '.join(c['regressed'])}**" if c["regressed"] else "")
        )
    lines += [
        "",
        "| # | parents | val score | found at call | prompt chars | front |",
        "|---|---|---|---|---|---|",
    ]
    for c in m["candidates"]:
        chars = ", ".join(f"{r} {n}" for r, n in c["prompt_chars"].items())
        lines.append(
            f"| {c['index']} | {c['parents']} | {_fmt(c['val_score'])} | {c['discovered_at_metric_calls']} "
            f"| {chars} | {'yes' if c['on_pareto_front'] else ''} |"
        )
    lines += [
        "",
        f"Candidate tree (gepa's; cyan: best, orange: Pareto front; hover the nodes in {m['candidate_tree_html']}):",
        "",
        "```dot",
        m["candidate_tree_dot"],
        "```",
        "",
        "Iterations:",
        "",
    ]
    for event in m["iterations"]:
        # Proposed texts and critiques stay in report.json; the Markdown keeps one line per event.
        detail = ", ".join(
            f"{k}={v}" for k, v in event.items() if k not in {"method", "event", "texts", "critique"}
        )
        lines.append(f"- {event['event']}: {detail}")
    lines += ["", "Winning prompts vs seed:", "", "```diff", m["diff_vs_seed"] or "(no change)", "```", ""]
    return lines


def markdown(report: dict[str, Any]) -> str:
    split = report["split"]
    lines = [
        f"# Optimization report ({report['agent']}{'/' + report['strategy'] if report['strategy'] else ''}, "
        f"metric {report['metric']})",
        "",
        f"- dataset `{report['dataset']}`; seed set `{report['seed_set']}` ({report['seed_hash']}); roles "
        f"{', '.join(report['roles'])}; budget {report['budget_metric_calls']} metric calls per method",
        f"- splits: train {split['train']}, validation {split['val']}, test {split['test']} (seed {split['seed']}; "
        f"disjoint by question: {split['disjoint']['questions']}, by gold passage: {split['disjoint']['passages']}; "
        f"{split['joined_by_shared_passages']} questions kept with a question sharing a gold passage, "
        f"{split['repeated_questions_dropped']} repeated questions dropped), corrections {split['corrections']}",
        f"- prompt caps (characters): {', '.join(f'{r} {n}' for r, n in sorted(report['prompt_caps'].items()))}",
        *(f"- **warning**: {w}" for w in report["warnings"]),
        "",
        f"## Test result: winner minus seed on {split['test']} held-out questions (95% paired bootstrap)",
        "",
        "| method | validation seed -> best | test seed -> best | test difference [95% CI] | test answers better "
        "/ worse | metric calls | agent runs | reflection calls | refused proposals | stopped by |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["comparison"]:
        lines.append(
            f"| {row['method']} | {_fmt(row['val'][0])} -> {_fmt(row['val'][1])} | {_fmt(row['test'][0])} -> "
            f"{_fmt(row['test'][1])} | {_delta(row['test_delta'])} | {row['test_changed'][0]} / {row['test_changed'][1]} "
            f"| {row['metric_calls']} | {row['agent_runs']} "
            f"| {row['reflection_calls']} | {row['refused_proposals']} | {row['stopped_by'] or 'n/a'} |"
        )
    notes = power_notes(report["comparison"], split["test"])
    lines += ["", *(f"- {note}" for note in notes), *([""] if notes else []), "![progress](progress.png)", ""]
    for method in report["methods"].values():
        lines += _method_markdown(report, method)
    return "\n".join(lines)


def write_report(
    config: OptimizeConfig,
    seed_set: PromptSet,
    split: Split,
    corrections: list[QAExample],
    results: dict[str, MethodResult],
    best_sets: dict[str, PromptSet],
    **kwargs: Any,
) -> dict[str, Any]:
    """Build the report and write `report.json`, `report.md` and `progress.png` into the job folder."""
    report = build_report(config, seed_set, split, corrections, results, best_sets, **kwargs)
    plot(report, config.out / "progress.png")
    report["plot"] = str(config.out / "progress.png")
    (config.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    (config.out / "report.md").write_text(markdown(report), encoding="utf-8")
    return report
