"""The evaluation cache of an optimization job: each (candidate, example) score and rollout, kept in a JSONL
file in the job's folder."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from sleuth.evals.datasets import QAExample


class EvalCache:
    """Scores and rollouts of (candidate, example) pairs kept in a JSONL file, so neither a resumed job (gepa
    re-scores the seed on the validation set before it loads its saved state) nor a parent's re-run on a
    reflection minibatch pays twice."""

    def __init__(self, path: Path | None, salt: str = "") -> None:
        self.path = path
        self.salt = salt
        """What else decides a score (model, agent limits): a resume with other settings misses the cache."""
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self._rows[row["key"]] = row

    def key(self, candidate: dict[str, str], example: QAExample) -> str:
        blob = json.dumps([candidate, example.id, example.question, self.salt], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]

    def get(self, key: str) -> dict[str, Any] | None:
        return self._rows.get(key)

    def put(self, key: str, output: dict[str, Any]) -> None:
        with self._lock:
            self._rows[key] = {"key": key, **output}
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(self._rows[key], ensure_ascii=False) + "\n")
