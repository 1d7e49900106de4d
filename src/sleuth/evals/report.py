"""Eval reports: per-arm means with bootstrap 95% CIs, written as report.json, report.md and a
self-contained report.html with matplotlib plots embedded as base64 PNGs."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.evals.breakdown import breakdown, breakdown_markdown
from sleuth.llm.pricing import sum_costs

QA_SCORES = ("em", "f1", "cover", "gold_recall", "citation_precision", "citation_recall")
QA_COSTS = ("search_calls", "turns", "tokens", "cost_usd", "latency_s")
COST = "cost_usd"
"""Dollars per question by the price table; an arm whose model the table does not price shows "n/a"."""
LONGFORM_SCORES = (
    "score",
    "rubric",
    "length",
    "expertise",
    "citation_score",
    "excerpts",
    "citation_precision",
    "citation_recall",
    "gold_cite_precision",
    "gold_cite_recall",
    "dropped_share",
)

ARM_ORDER = ("closed", "naive", "free", "always", "grounded", "research", "report", "oracle")


def bootstrap_ci(
    values: Sequence[float], *, samples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval (seeded, so a report is reproducible)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"),) * 3
    mean = float(data.mean())
    if data.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return mean, float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def _arm_key(arm: str) -> tuple[int, str]:
    return (ARM_ORDER.index(arm) if arm in ARM_ORDER else len(ARM_ORDER), arm)


def summarize(records: list[dict[str, Any]], metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """arm -> {n, errors, metric -> {mean, lo, hi, n}}; metrics absent for an arm are left out."""
    arms: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        arms.setdefault(record["arm"], []).append(record)
    summary: dict[str, dict[str, Any]] = {}
    for arm in sorted(arms, key=_arm_key):
        rows = arms[arm]
        entry: dict[str, Any] = {"n": len(rows), "errors": sum(bool(r.get("error")) for r in rows)}
        for metric in metrics:
            values = [float(r[metric]) for r in rows if r.get(metric) is not None]
            if values:
                mean, lo, hi = bootstrap_ci(values)
                entry[metric] = {"mean": mean, "lo": lo, "hi": hi, "n": len(values)}
            if metric == COST and values:
                entry[metric]["total"] = sum_costs(values)
            elif metric == COST and any(COST in r for r in rows):
                entry[metric] = None  # recorded, but no question's calls were priced: unknown, not free
        summary[arm] = entry
    return summary


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars_with_ci(summary: dict[str, dict[str, Any]], metrics: Sequence[str], title: str, ylabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary)
    metrics = [m for m in metrics if any(m in summary[a] for a in arms)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(arms) * max(1, len(metrics)) / 2 + 2), 3.8))
    width = 0.8 / max(1, len(metrics))
    x = np.arange(len(arms))
    for i, metric in enumerate(metrics):
        stats = [summary[a].get(metric, {"mean": 0.0, "lo": 0.0, "hi": 0.0}) for a in arms]
        means = np.array([s["mean"] for s in stats])
        err = np.array([[s["mean"] - s["lo"] for s in stats], [s["hi"] - s["mean"] for s in stats]])
        bars = ax.bar(x + (i - (len(metrics) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=metric)
        for bar, mean in zip(bars, means, strict=True):
            ax.annotate(
                f"{mean:.2f}",
                (bar.get_x() + bar.get_width() / 2, mean),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_xticks(x, arms)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(metrics) > 1:
        ax.legend(fontsize=8, ncols=min(len(metrics), 4), loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _png(fig)


def _latency_boxes(records: list[dict[str, Any]], arms: list[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [[r["latency_s"] for r in records if r["arm"] == a and not r.get("error")] or [0.0] for a in arms]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(arms) + 2), 3.5))
    ax.boxplot(data, tick_labels=arms, showmeans=True)
    ax.set_ylabel("seconds per question")
    ax.set_title("Latency per question (box: quartiles, triangle: mean)")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _type_bars(f1_by_type: dict[str, dict[str, dict[str, float]]], arms: list[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = list(f1_by_type)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(types) * max(1, len(arms)) / 2 + 2), 3.6))
    width = 0.8 / max(1, len(arms))
    x = np.arange(len(types))
    for i, arm in enumerate(arms):
        means = [f1_by_type[t].get(arm, {"mean": 0.0})["mean"] for t in types]
        ax.bar(x + (i - (len(arms) - 1) / 2) * width, means, width, label=arm)
    ax.set_xticks(x, [f"{t}\n(n={max(c['n'] for c in f1_by_type[t].values())})" for t in types])
    ax.set_ylabel("F1")
    ax.set_title("F1 by question type")
    ax.legend(fontsize=8, ncols=min(len(arms), 4), loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _png(fig)


def _fmt(stat: dict[str, float] | None, digits: int = 3) -> str:
    if not stat:
        return "–"
    return f"{stat['mean']:.{digits}f} [{stat['lo']:.{digits}f}, {stat['hi']:.{digits}f}]"


def _cell(entry: dict[str, Any], metric: str) -> str:
    """One table cell: the mean [CI]; dollars with 6 decimals and the arm's total, "n/a" when unpriced."""
    if metric == COST and metric in entry:
        stat = entry[metric]
        return "n/a" if stat is None else f"{_fmt(stat, 6)} (total ${stat['total']:.6f})"
    return _fmt(entry.get(metric), 1 if metric == "tokens" else 3)


def markdown_table(summary: dict[str, dict[str, Any]], metrics: Sequence[str]) -> str:
    metrics = [m for m in metrics if any(m in s for s in summary.values())]
    head = "| arm | n | errors | " + " | ".join(metrics) + " |"
    rule = "|---|---:|---:|" + "---:|" * len(metrics)
    rows = [
        f"| {arm} | {s['n']} | {s['errors']} | " + " | ".join(_cell(s, m) for m in metrics) + " |"
        for arm, s in summary.items()
    ]
    return "\n".join([head, rule, *rows])


def write_reports(
    out: Path,
    records: list[dict[str, Any]],
    meta: dict[str, Any],
    *,
    scores: Sequence[str] = QA_SCORES,
    costs: Sequence[str] = QA_COSTS,
    title: str = "sleuth QA eval",
) -> dict[str, Any]:
    """Write report.json, report.md and report.html to `out`; returns the JSON object written."""
    summary = summarize(records, [*scores, *costs])
    arms = list(summary)
    groups = breakdown(records, summary)
    report = {
        "meta": meta,
        "arms": summary,
        "questions": len({r["example_id"] for r in records}),
        "breakdown": groups,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))

    meta_lines = "\n".join(f"- **{k}**: {v}" for k, v in meta.items())
    note = "Mean [bootstrap 95% CI] over questions; failed runs score 0 and are counted in `errors`."
    md = (
        f"# {title}\n\n{meta_lines}\n- **questions**: {report['questions']}\n\n## Scores\n\n{note}\n\n"
        f"{markdown_table(summary, scores)}\n\n## Costs per question\n\n{markdown_table(summary, costs)}\n"
    )
    groups_md = breakdown_markdown(groups, arms)
    md += f"\n{groups_md}\n" if groups_md else ""
    (out / "report.md").write_text(md)

    plots: list[tuple[str, str]] = []
    if arms:
        citation_metrics = (
            "gold_recall",
            "citation_precision",
            "citation_recall",
            "gold_cite_precision",
            "gold_cite_recall",
            "dropped_share",
        )
        answer_metrics = [m for m in scores if m not in citation_metrics]
        plots.append(
            ("Scores per arm", _bars_with_ci(summary, answer_metrics, "Scores per arm (95% CI)", "score"))
        )
        extra = [m for m in scores if m not in answer_metrics]
        if any(m in summary[a] for a in arms for m in extra):
            plots.append(
                (
                    "Retrieval and citations",
                    _bars_with_ci(summary, extra, "Gold-passage recall and citation quality (95% CI)", "share"),
                )
            )
        if "search_calls" in costs:
            plots.append(
                (
                    "Searches per question",
                    _bars_with_ci(summary, ["search_calls"], "Searches per question (95% CI)", "searches"),
                )
            )
        if "latency_s" in costs:
            plots.append(("Latency", _latency_boxes(records, arms)))
        if len(groups["f1_by_type"]) > 1:
            plots.append(("F1 by question type", _type_bars(groups["f1_by_type"], arms)))
    images = "\n".join(
        f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
        for name, data in plots
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1><ul>{
        "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in meta.items())
    }</ul>
<p>{note}</p><h2>Scores</h2>{_html_table(summary, scores)}<h2>Costs per question</h2>
{_html_table(summary, costs)}<h2>Breakdown</h2><pre>{html.escape(groups_md)}</pre>
<h2>Plots</h2>{images}</body></html>"""
    (out / "report.html").write_text(page)
    return report


def _html_table(summary: dict[str, dict[str, Any]], metrics: Sequence[str]) -> str:
    metrics = [m for m in metrics if any(m in s for s in summary.values())]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = "".join(
        f"<tr><td>{html.escape(arm)}</td><td>{s['n']}</td><td>{s['errors']}</td>"
        + "".join(f"<td>{html.escape(_cell(s, m))}</td>" for m in metrics)
        + "</tr>"
        for arm, s in summary.items()
    )
    return f"<table><tr><th>arm</th><th>n</th><th>errors</th>{head}</tr>{rows}</table>"
