"""The job's progress plot: per method, each candidate's validation score against the metric calls spent (with
the best so far), and each role's prompt length per candidate."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(report: dict[str, Any], path: Path) -> Path:
    """One row per method of `report` (see `report.build_report`), written as a PNG to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    methods = list(report["methods"].values())
    fig, axes = plt.subplots(len(methods), 2, figsize=(11, 4 * len(methods)), squeeze=False)
    for (ax1, ax2), method in zip(axes, methods, strict=True):
        candidates = method["candidates"]
        xs = [c["discovered_at_metric_calls"] for c in candidates]
        ys = [c["val_score"] for c in candidates]
        colors = ["tab:red" if c["on_pareto_front"] else "tab:blue" for c in candidates]
        ax1.scatter(xs, ys, c=colors, zorder=3)
        for c in candidates:
            ax1.annotate(
                str(c["index"]),
                (c["discovered_at_metric_calls"], c["val_score"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        best, steps_x, steps_y = float("-inf"), [], []
        for i in sorted(range(len(xs)), key=lambda i: xs[i]):
            best = max(best, ys[i])
            steps_x.append(xs[i])
            steps_y.append(best)
        steps_x.append(max(method["metric_calls_used"], steps_x[-1]))
        steps_y.append(best)
        ax1.step(steps_x, steps_y, where="post", color="tab:green", label="best so far")
        ax1.set(
            xlabel="metric calls",
            ylabel=f"validation {report['metric']}",
            title=f"{method['method']}: validation score (red = Pareto front)",
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
        ax2.set(
            xlabel="candidate", ylabel="prompt characters", title=f"{method['method']}: prompt length per role"
        )
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
