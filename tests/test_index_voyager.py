"""covers.index.voyager: against brute force at generous settings, byte-identical single-threaded
builds, saved graphs opened again, what is its cache key, and the metric and parameters it refuses."""
import numpy as np
import pytest

from covers.index.exact import ExactIndex
from covers.index.voyager import VoyagerIndex
from covers.evaluation.metrics import recall_at_k


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(1500, 16)).astype(np.float32)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
def test_voyager_finds_the_exact_neighbours_at_generous_settings(X, metric):
    rows = np.arange(0, 1500, 5)
    e_ids, e_d = ExactIndex(metric).build(X).query_rows(rows, 10)
    idx = VoyagerIndex(metric, M=16, ef_construction=200, ef=200).build(X)
    ids, d = idx.query_rows(rows, 10)
    assert recall_at_k(ids, e_ids) >= 0.99
    assert not (ids == rows[:, None]).any()  # never its own neighbour
    close = ids[:, 0] == e_ids[:, 0]
    np.testing.assert_allclose(d[close, 0], e_d[close, 0], rtol=1e-4, atol=1e-4)  # Annoy's distance conventions
    s_ids, _ = idx.search(X[:20], 1)
    if metric != "dot":  # under dot a vector need not be its own best match
        assert s_ids[:, 0].tolist() == list(range(20))


def test_single_threaded_builds_are_byte_identical_and_reload(tmp_path, X):
    a = VoyagerIndex(seed=4, M=8).build(X, tmp_path / "a.voy")
    VoyagerIndex(seed=4, M=8).build(X, tmp_path / "b.voy")
    assert (tmp_path / "a.voy").read_bytes() == (tmp_path / "b.voy").read_bytes()
    again = VoyagerIndex(seed=4, M=8).load(tmp_path / "a.voy", X)
    assert again.size_bytes_ == (tmp_path / "a.voy").stat().st_size
    assert np.array_equal(a.neighbours(7).ids, again.neighbours(7).ids)
    # the query threads never change an answer
    one = VoyagerIndex(seed=4, M=8, query_jobs=1, query_chunk=100).load(tmp_path / "a.voy", X).neighbours(7)
    two = VoyagerIndex(seed=4, M=8, query_jobs=2).load(tmp_path / "a.voy", X).neighbours(7)
    assert np.array_equal(one.ids, two.ids) and np.array_equal(one.sims, two.sims)


def test_ef_is_a_query_parameter_and_threads_are_keyed():
    assert VoyagerIndex(ef=10).build_key() == VoyagerIndex(ef=500).build_key()
    assert VoyagerIndex(ef=10).result_params() != VoyagerIndex(ef=500).result_params()
    assert VoyagerIndex(build_threads=1).build_key() != VoyagerIndex(build_threads=2).build_key()
    assert VoyagerIndex.speed_param_names() == ("query_jobs", "query_chunk")
    assert VoyagerIndex().family() == "voyager"


def test_fewer_items_than_k_leaves_empty_slots():
    Y = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    nb = VoyagerIndex().build(Y).neighbours(10)
    assert (nb.ids[:, 5:] == -1).all() and (nb.sims[:, 5:] == 0).all()
    assert sorted(nb.ids[0, :5]) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("kwargs,match", [
    (dict(metric="manhattan"), r"VoyagerIndex: metric 'manhattan' is not supported"), (dict(metric="cosine"), "metric"),
    (dict(M=1), "VoyagerIndex: M"), (dict(ef=0), "VoyagerIndex: ef"), (dict(storage="float16"), "VoyagerIndex: storage"),
    (dict(build_threads=0), "VoyagerIndex: build_threads"), (dict(query_jobs=-2), "VoyagerIndex: query_jobs")])
def test_bad_params_are_refused_before_building(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        VoyagerIndex(**kwargs).build(np.zeros((5, 2), np.float32), tmp_path / "never.voy")
    assert not (tmp_path / "never.voy").exists()
