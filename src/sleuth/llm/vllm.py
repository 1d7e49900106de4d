"""GPU scale: build and exec the `vllm serve` command (vllm is an optional extra, never installed by default)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

INSTALL_HINT = (
    "vllm is not installed. It needs a GPU machine and its own environment (it pins torch/transformers "
    "versions that clash with FlagEmbedding's):\n"
    "  python -m venv .venv-vllm && .venv-vllm/bin/pip install vllm\n"
    "  .venv-vllm/bin/vllm serve MODEL --port 8001\n"
    "then point sleuth at it: export SLEUTH_LLM_BASE_URL=http://127.0.0.1:8001/v1 SLEUTH_LLM_MODEL=MODEL"
)


class VLLMNotInstalledError(RuntimeError):
    pass


def build_vllm_command(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8001,
    extra_args: list[str] | None = None,
    executable: str | None = None,
) -> list[str]:
    """The argv of `vllm serve` for `model`; `extra_args` pass through untouched (e.g. -tp 2)."""
    exe = executable or shutil.which("vllm")
    base = [exe, "serve"] if exe else [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve"]
    return [*base, model, "--host", host, "--port", str(port), *(extra_args or [])]


def vllm_available() -> bool:
    return shutil.which("vllm") is not None or importlib.util.find_spec("vllm") is not None


def exec_vllm(model: str, *, host: str, port: int, extra_args: list[str]) -> None:
    """Replace this process with `vllm serve` (never returns), or raise with install instructions."""
    if not vllm_available():
        raise VLLMNotInstalledError(INSTALL_HINT)
    argv = build_vllm_command(model, host=host, port=port, extra_args=extra_args)
    os.execvp(argv[0], argv)
