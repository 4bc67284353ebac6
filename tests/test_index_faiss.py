"""covers.index.faiss: each factory family against brute force at generous settings, byte-identical
builds, saved indexes opened again, query parameters refused where the factory has no use for them."""
import numpy as np
import pytest

from covers.evaluation.metrics import recall_at_k
from covers.index.exact import ExactIndex
from covers.index.faiss import FaissIndex


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
@pytest.mark.parametrize("factory,query", [("Flat", {}), ("HNSW32", dict(ef_search=200)),
                                           ("IVF16,Flat", dict(nprobe=16))])
def test_faiss_finds_the_exact_neighbours_at_generous_settings(X, metric, factory, query):
    rows = np.arange(0, 2000, 7)
    e_ids, e_d = ExactIndex(metric).build(X).query_rows(rows, 10)
    idx = FaissIndex(metric, factory, train_size=2000, **query).build(X)
    ids, d = idx.query_rows(rows, 10)
    assert recall_at_k(ids, e_ids) >= 0.99, (metric, factory)
    assert not (ids == rows[:, None]).any()
    close = ids[:, 0] == e_ids[:, 0]
    np.testing.assert_allclose(d[close, 0], e_d[close, 0], rtol=1e-4, atol=1e-4)  # Annoy's distance conventions


def test_ivf_pq_is_approximate_and_nprobe_matters(X):
    rows = np.arange(0, 2000, 7)
    e_ids, _ = ExactIndex("euclidean").build(X).query_rows(rows, 10)
    one = FaissIndex("euclidean", "IVF16,PQ8", nprobe=1, train_size=2000).build(X)
    many = FaissIndex("euclidean", "IVF16,PQ8", nprobe=16, train_size=2000).build(X)
    r1, r16 = recall_at_k(one.query_rows(rows, 10)[0], e_ids), recall_at_k(many.query_rows(rows, 10)[0], e_ids)
    assert r1 < r16 and 0.5 < r16 < 1.0  # PQ codes lose some order; nprobe=1 also misses lists
    assert FaissIndex(factory="IVF16,PQ8").family() == "faiss-IVF-PQ" and FaissIndex().family() == "faiss-HNSW"


def test_refinement_re_ranks_pq_candidates_exactly(X):
    """The PQ codes cap recall; RFlat re-ranks k_factor x k candidates by exact distance, so the
    same codes at k_factor=32 find (nearly) what brute force finds, and k_factor=1 what PQ alone does."""
    rows = np.arange(0, 2000, 7)
    e_ids, e_d = ExactIndex("euclidean").build(X).query_rows(rows, 10)
    pq = FaissIndex("euclidean", "IVF16,PQ2", nprobe=16, train_size=2000).build(X)  # 2 codes: a coarse order
    r_pq = recall_at_k(pq.query_rows(rows, 10)[0], e_ids)
    refined = {kf: FaissIndex("euclidean", "IVF16,PQ2,RFlat", nprobe=16, k_factor=kf, train_size=2000).build(X)
               for kf in (1, 32)}
    r1, r8 = (recall_at_k(refined[kf].query_rows(rows, 10)[0], e_ids) for kf in (1, 32))
    assert r8 >= 0.95 and r8 > r_pq + 0.2 and abs(r1 - r_pq) < 0.05, (r_pq, r1, r8)
    ids, d = refined[32].query_rows(rows, 10)
    close = ids[:, 0] == e_ids[:, 0]
    np.testing.assert_allclose(d[close, 0], e_d[close, 0], rtol=1e-4, atol=1e-4)  # exact distances after re-ranking
    assert FaissIndex(k_factor=1).build_key() == FaissIndex(k_factor=8).build_key()


@pytest.mark.parametrize("factory", ["HNSW16", "IVF16,PQ8"])
def test_builds_are_byte_identical_and_reload(tmp_path, X, factory):
    a = FaissIndex("euclidean", factory, train_size=1000, seed=3).build(X, tmp_path / "a.faiss")
    FaissIndex("euclidean", factory, train_size=1000, seed=3).build(X, tmp_path / "b.faiss")
    assert (tmp_path / "a.faiss").read_bytes() == (tmp_path / "b.faiss").read_bytes()
    again = FaissIndex("euclidean", factory, train_size=1000, seed=3).load(tmp_path / "a.faiss", X)
    assert np.array_equal(a.neighbours(5).ids, again.neighbours(5).ids)
    one = FaissIndex("euclidean", factory, query_jobs=1, query_chunk=300).load(tmp_path / "a.faiss", X).neighbours(5)
    two = FaissIndex("euclidean", factory, query_jobs=2).load(tmp_path / "a.faiss", X).neighbours(5)
    assert np.array_equal(one.ids, two.ids) and np.array_equal(one.sims, two.sims)


def test_query_parameters_are_not_the_build_key():
    assert FaissIndex(nprobe=1).build_key() == FaissIndex(nprobe=64).build_key()
    assert FaissIndex(ef_search=1).result_params() != FaissIndex(ef_search=64).result_params()
    assert FaissIndex(factory="Flat").build_key() != FaissIndex(factory="HNSW32").build_key()
    assert FaissIndex.speed_param_names() == ("query_jobs", "query_chunk")


@pytest.mark.parametrize("kwargs,match", [
    (dict(metric="manhattan"), r"FaissIndex: metric 'manhattan' is not supported"),
    (dict(factory="HNSW32", nprobe=4), r"FaissIndex: nprobe=4 has no meaning for factory 'HNSW32'"),
    (dict(factory="IVF8,Flat", ef_search=4), r"FaissIndex: ef_search=4 has no meaning"),
    (dict(factory="HNSW32", k_factor=4), r"FaissIndex: k_factor=4 has no meaning for factory 'HNSW32'"),
    (dict(factory="Nonsense7"), r"FaissIndex: factory 'Nonsense7' is not one FAISS can build"),
    (dict(factory="IVF64,Flat"), r"FaissIndex: factory 'IVF64,Flat' could not be trained on 20 rows"),
    (dict(factory=""), "FaissIndex: factory"), (dict(nprobe=0), "FaissIndex: nprobe"),
    (dict(build_threads=0), "FaissIndex: build_threads")])
def test_bad_params_are_refused_before_writing(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        FaissIndex(**kwargs).build(np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32), tmp_path / "x.faiss")
    assert not (tmp_path / "x.faiss").exists()
