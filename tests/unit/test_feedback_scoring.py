"""The dual score and top-k selection that decide which corrections an agent sees."""

from __future__ import annotations

import numpy as np

from sleuth.feedback.cache import CachedPatch, PatchMatrix
from sleuth.feedback.scoring import dual_score, mixed_matrix, top_k_above


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def test_dual_score_mixes_intent_and_evidence_by_lambda() -> None:
    q = _unit(np.array([1.0, 0.0, 0.0]))
    query_vecs = _unit(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    evidence_vecs = _unit(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert np.allclose(dual_score(q, query_vecs, evidence_vecs, 0.5), [0.5, 0.5])
    assert np.allclose(dual_score(q, query_vecs, evidence_vecs, 1.0), [1.0, 0.0])  # intent only
    assert np.allclose(dual_score(q, query_vecs, evidence_vecs, 0.0), [0.0, 1.0])  # evidence only
    assert np.allclose(dual_score(q, query_vecs, evidence_vecs, 0.8), [0.8, 0.2])


def test_mixed_matrix_gives_the_same_scores_in_one_product() -> None:
    rng = np.random.default_rng(0)
    q = _unit(rng.normal(size=16))
    query_vecs, evidence_vecs = _unit(rng.normal(size=(50, 16))), _unit(rng.normal(size=(50, 16)))
    for lam in (0.0, 0.3, 0.5, 1.0):
        assert np.allclose(
            mixed_matrix(query_vecs, evidence_vecs, lam) @ q,
            dual_score(q, query_vecs, evidence_vecs, lam),
            atol=1e-6,
        )


def test_top_k_above_keeps_order_and_threshold() -> None:
    scores = np.array([0.2, 0.9, 0.6, -np.inf, 0.7], dtype=np.float32)
    assert top_k_above(scores, 2, 0.5) == [1, 4]
    assert top_k_above(scores, 10, 0.65) == [1, 4]
    assert top_k_above(scores, 3, 0.95) == []
    assert top_k_above(scores, 0, 0.0) == []


def _rec(pid: str, collection: str | None = None, tenant: str | None = None) -> CachedPatch:
    return CachedPatch(pid, "q", "a", "e", (), (), "2026-01-01", None, collection, tenant)


def test_matrix_scopes_by_collection_and_tenant_and_skips_inactive() -> None:
    matrix = PatchMatrix(dim=4, lam=0.5, capacity=2)  # small capacity: also exercises growth
    vec = _unit(np.array([[1.0, 0, 0, 0]] * 5))
    records = [
        _rec("shared"),
        _rec("demo", "demo"),
        _rec("other", "other"),
        _rec("acme", "demo", "acme"),
        _rec("gone", "demo"),
    ]
    matrix.put(records, vec, vec, [True, True, True, True, False])
    q = vec[0]

    def ids(collection: str | None, tenant: str | None) -> set[str]:
        return {r.id for r, _ in matrix.search(q, 10, 0.0, collection=collection, tenant=tenant)}

    assert ids("demo", None) == {"shared", "demo"}
    assert ids("demo", "acme") == {"shared", "demo", "acme"}
    assert ids("demo", "globex") == {"shared", "demo"}  # another tenant never sees acme's patch
    assert ids("unknown", None) == {"shared"}
    matrix.set_active("demo", False)
    assert ids("demo", None) == {"shared"}
