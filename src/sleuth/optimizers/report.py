"""The report of an optimization job: scores per candidate and iteration, the Pareto front, prompt growth,
the diff of the winning prompts against the seed, as JSON, Markdown and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sleuth.evals.datasets import QAExample
from sleuth.optimizers.base import Outcome
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.gepa_adapter import prompt_lengths
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


def build_report(
    config: OptimizeConfig,
    outcome: Outcome,
    seed_set: PromptSet,
    best_set: PromptSet,
    *,
    train: list[QAExample],
    val: list[QAExample],
    corrections: list[QAExample],
    rollouts_run: int = 0,
    reflection_calls: int = 0,
    test: tuple[list[QAExample], float | None, float | None] = ([], None, None),
) -> dict[str, Any]:
    n_val = len(val)
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
    test_examples, seed_test, best_test = test
    seed_plain, seed_corr = _split_scores(outcome.val_subscores[0], n_val)
    best_plain, best_corr = _split_scores(outcome.val_subscores[best], n_val)
    return {
        "method": outcome.method,
        "agent": config.agent,
        "metric": config.metric,
        "dataset": config.dataset,
        "budget_metric_calls": config.budget,
        "metric_calls_used": outcome.total_metric_calls,
        "agent_runs": rollouts_run,
        "reflection_calls": reflection_calls,
        "train_size": len(train),
        "val_size": n_val,
        "corrections_size": len(corrections),
        "test_size": len(test_examples),
        "split_disjoint": _disjoint(train, val, test_examples),
        "split_seed": config.seed,
        "roles": sorted(outcome.candidates[0]),
        "seed_set": seed_set.name,
        "seed_hash": seed_set.hash,
        "best_hash": best_set.hash,
        "best_candidate": best,
        "seed_val_score": seed_plain,
        "best_val_score": best_plain,
        "seed_corrections_score": seed_corr,
        "best_corrections_score": best_corr,
        "corrections_regressed": (seed_corr is not None and best_corr is not None and best_corr < seed_corr),
        "seed_test_score": seed_test,
        "best_test_score": best_test,
        "candidates": candidates,
        "pareto_front": sorted(front),
        "pareto_by_val_question": {
            val[k].id if k < n_val else corrections[k - n_val].id: sorted(v)
            for k, v in sorted(outcome.pareto.items())
            if k < n_val + len(corrections)
        },
        "iterations": _history(config.out / "history.jsonl", outcome.method),
        "diff_vs_seed": diff(
            PromptSet(dict(outcome.candidates[0]), seed_set.name),
            PromptSet(dict(outcome.candidates[best]), "best"),
        ),
    }


def _disjoint(*splits: list[QAExample]) -> bool:
    ids = [e.id for split in splits for e in split]
    return len(ids) == len(set(ids))


def _markdown(report: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"# Optimization report ({report['method']}, {report['agent']}, metric {report['metric']})",
        "",
        f"- dataset: `{report['dataset']}`; train {report['train_size']}, validation {report['val_size']}, "
        f"test {report['test_size']} (disjoint: {report['split_disjoint']}, seed {report['split_seed']}), "
        f"corrections {report['corrections_size']}",
        f"- budget: {report['metric_calls_used']} of {report['budget_metric_calls']} metric calls used; "
        f"{report['agent_runs']} agent runs, {report['reflection_calls']} reflection calls",
        f"- seed set `{report['seed_set']}` ({report['seed_hash']}) -> best candidate {report['best_candidate']} "
        f"({report['best_hash']})",
        f"- validation score: seed {fmt(report['seed_val_score'])} -> best {fmt(report['best_val_score'])}",
    ]
    if report["test_size"]:
        lines.append(
            f"- held-out test score ({report['test_size']} questions, not seen by the search): seed "
            f"{fmt(report['seed_test_score'])} -> best {fmt(report['best_test_score'])}"
        )
    if report["corrections_size"]:
        lines.append(
            f"- correction questions: seed {fmt(report['seed_corrections_score'])} -> best "
            f"{fmt(report['best_corrections_score'])}"
            + (" **(regressed)**" if report["corrections_regressed"] else "")
        )
    lines += [
        "",
        "## Candidates",
        "",
        "| # | parents | val score | found at call | prompt chars | front |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["candidates"]:
        chars = ", ".join(f"{r} {n}" for r, n in c["prompt_chars"].items())
        lines.append(
            f"| {c['index']} | {c['parents']} | {fmt(c['val_score'])} | {c['discovered_at_metric_calls']} "
            f"| {chars} | {'yes' if c['on_pareto_front'] else ''} |"
        )
    lines += ["", "## Iterations", ""]
    for event in report["iterations"]:
        # Proposed texts and critiques stay in report.json; the Markdown keeps one line per event.
        detail = ", ".join(
            f"{k}={v}" for k, v in event.items() if k not in {"method", "event", "texts", "critique"}
        )
        lines.append(f"- {event['event']}: {detail}")
    lines += [
        "",
        "## Winning prompts vs seed",
        "",
        "```diff",
        report["diff_vs_seed"] or "(no change)",
        "```",
        "",
        "![progress](progress.png)",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path:
    """Validation score of each candidate against the metric calls spent, and prompt length per role."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    candidates = report["candidates"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [c["discovered_at_metric_calls"] for c in candidates]
    ys = [c["val_score"] for c in candidates]
    ax1.scatter(xs, ys, c=["tab:red" if c["on_pareto_front"] else "tab:blue" for c in candidates], zorder=3)
    for c in candidates:
        ax1.annotate(
            str(c["index"]),
            (c["discovered_at_metric_calls"], c["val_score"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    best, steps_x, steps_y = float("-inf"), [], []
    for i in order:
        best = max(best, ys[i])
        steps_x.append(xs[i])
        steps_y.append(best)
    steps_x.append(max(report["metric_calls_used"], steps_x[-1]))
    steps_y.append(best)
    ax1.step(steps_x, steps_y, where="post", color="tab:green", label="best so far")
    ax1.set(
        xlabel="metric calls",
        ylabel=f"validation {report['metric']}",
        title=f"{report['method']}: validation score (red = Pareto front)",
    )
    # Scores start at 0: a candidate that scored near 0 stays visible instead of sitting on the frame.
    ax1.set_ylim(0, max(max(ys), 0.01) * 1.15)
    ax1.legend(loc="upper right")
    for role in report["roles"]:
        ax2.plot(
            [c["index"] for c in candidates],
            [c["prompt_chars"].get(role, 0) for c in candidates],
            marker="o",
            label=role,
        )
    ax2.set(xlabel="candidate", ylabel="prompt characters", title="prompt length per role")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    config: OptimizeConfig, outcome: Outcome, seed_set: PromptSet, best_set: PromptSet, **kwargs: Any
) -> dict[str, Any]:
    """Build the report and write `report.json`, `report.md` and `progress.png` into the job folder."""
    report = build_report(config, outcome, seed_set, best_set, **kwargs)
    plot(report, config.out / "progress.png")
    report["plot"] = str(config.out / "progress.png")
    (config.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    (config.out / "report.md").write_text(_markdown(report), encoding="utf-8")
    return report
