"""gepa's progress as sleuth job events: a gepa callback turning its events into the job's event dicts (also
written to `history.jsonl`), and gepa's logger writing to a file only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sleuth.agents.events import ProgressSink


def prompt_lengths(candidate: dict[str, str]) -> dict[str, int]:
    """Characters per role: how much each prompt grew."""
    return {role: len(text) for role, text in sorted(candidate.items())}


class FileLogger:
    """gepa's logger, writing to a file only (gepa's own `Logger` swaps `sys.stdout`, which breaks progress
    bars and `--json` output)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def log(self, *args: Any, **kwargs: Any) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(" ".join(str(a) for a in args) + "\n")


class EventRecorder:
    """A gepa callback that turns gepa's events into sleuth's job events (see `sleuth.optimizers.jobs`)."""

    def __init__(self, sink: ProgressSink) -> None:
        self.sink = sink

    def on_budget_updated(self, event: Any) -> None:
        self.sink(
            {"event": "budget", "used": event["metric_calls_used"], "remaining": event["metric_calls_remaining"]}
        )

    def on_valset_evaluated(self, event: Any) -> None:
        self.sink(
            {
                "event": "valset",
                "iteration": event["iteration"],
                "candidate": event["candidate_idx"],
                "score": event["average_score"],
                "parents": list(event["parent_ids"]),
                "lengths": prompt_lengths(event["candidate"]),
            }
        )

    def on_candidate_accepted(self, event: Any) -> None:
        self.sink(
            {
                "event": "accepted",
                "iteration": event["iteration"],
                "candidate": event["new_candidate_idx"],
                "minibatch_score": event["new_score"],
            }
        )

    def on_candidate_rejected(self, event: Any) -> None:
        self.sink(
            {
                "event": "rejected",
                "iteration": event["iteration"],
                "before": event["old_score"],
                "after": event["new_score"],
                "reason": event["reason"],
            }
        )

    def on_merge_accepted(self, event: Any) -> None:
        self.sink(
            {
                "event": "merged",
                "iteration": event["iteration"],
                "candidate": event["new_candidate_idx"],
                "parents": list(event["parent_ids"]),
            }
        )

    def on_merge_rejected(self, event: Any) -> None:
        self.sink(
            {
                "event": "rejected",
                "iteration": event["iteration"],
                "parents": list(event["parent_ids"]),
                "reason": f"merge: {event['reason']}",
            }
        )

    def on_proposal_end(self, event: Any) -> None:
        self.sink(
            {
                "event": "proposal",
                "iteration": event["iteration"],
                "lengths": prompt_lengths(event["new_instructions"]),
                "texts": dict(event["new_instructions"]),
            }
        )
