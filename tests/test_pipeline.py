"""covers.pipeline end to end through the real config: planted signal, no leakage, determinism,
features and indexes from the cache; and its stages (feature_matrix, build_index, index_metrics)
on hand-made inputs."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import compose
from covers.app.task import run_job
from covers.cache import Cache
from covers.index.annoy import AnnoyIndex
from covers.index.exact import ExactIndex
from covers.pipeline import Settings, build_index, feature_matrix, index_metrics

TIMING = ("seconds", "_ms_", "_qps", "peak_memory")


def result_metrics(summary):
    return {k: v for k, v in summary["metrics"].items() if not any(t in k for t in TIMING)}


def folder_job(tmp_path, data_dir, *extra):
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={data_dir}", *extra])
    return run_job(cfg, out_dir=tmp_path / "out")


@pytest.mark.slow
def test_planted_signal_gives_auc_near_one(tmp_path, planted_dir):
    s = folder_job(tmp_path, planted_dir)
    m = s["metrics"]
    assert s["status"] == "FINISHED"
    assert m["user_auc"] > 0.95 and m["thumbs_auc"] > 0.95
    assert m["coverage"] > 0.9
    assert abs(m["thumbs_auc_random"] - 0.5) < 0.1


@pytest.mark.slow
def test_no_leakage_thumbs_independent_of_covers_stay_at_chance(tmp_path, null_dir):
    m = folder_job(tmp_path, null_dir)["metrics"]
    assert abs(m["thumbs_auc"] - 0.5) < 0.05
    # no headline number excludes chance: the method's interval holds 0.5, its difference to
    # random holds 0 and is not significant after Holm
    assert m["user_auc_lo"] <= 0.5 <= m["user_auc_hi"]
    assert m["diff_user_auc_lo_random"] <= 0.0 <= m["diff_user_auc_hi_random"]
    assert m["p_holm_random"] > 0.05 and m["p_random"] > 0.05


@pytest.mark.slow
def test_same_config_same_metrics(tmp_path, planted_dir):
    a = folder_job(tmp_path / "a", planted_dir, "index.n_trees=3", "index.search_k=30")
    b = folder_job(tmp_path / "b", planted_dir, "index.n_trees=3", "index.search_k=30")
    np.testing.assert_equal(result_metrics(a), result_metrics(b))  # exact, NaN == NaN
    c = folder_job(tmp_path / "a", planted_dir, "index.n_trees=3", "index.search_k=30")  # now from the cache
    assert c["info"]["features_cache"] == "hit" and c["info"]["index_cache"] == "hit"
    np.testing.assert_equal(result_metrics(a), result_metrics(c))


@pytest.mark.slow
def test_pipeline_streams_features_and_reuses_them(tmp_path, planted_dir):
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={planted_dir}", "engine.chunk_size=64"])
    first = run_job(cfg, out_dir=tmp_path / "a")
    again = run_job(cfg, out_dir=tmp_path / "b")
    assert first["info"]["features_cache"] == "built" and again["info"]["features_cache"] == "hit"
    assert first["metrics"]["user_auc"] == again["metrics"]["user_auc"] > 0.9
    assert len(list((tmp_path / "cache" / "features").glob("*.npy"))) == 1
    assert not list((tmp_path / "cache" / "features").glob("*.partial*"))


@pytest.mark.slow
def test_pipeline_on_a_procedural_world(tmp_path):
    cfg = compose(tmp_path, ["dataset.n_items=1500", "dataset.n_users=120", "+dataset.store_covers=false",
                             "dataset.image_size=32", "baselines=simple", "engine.chunk_size=256"])
    s = run_job(cfg, out_dir=tmp_path / "out")
    assert s["status"] == "FINISHED" and s["info"]["features_cache"] == "built"
    m = s["metrics"]
    assert m["data_n_items"] == 1500 and m["index_recall_at_10"] > 0.3 and np.isfinite(m["user_auc"])
    assert not (tmp_path / "cache" / "worlds" / s["info"]["dataset_root"].rsplit("/", 1)[-1] / "covers").exists()


# --------------------------------------------------------------------------- the stages
def test_feature_matrix_drops_undecodable_covers_and_reports_them(tmp_path):
    from covers.data.folder import FolderDataset
    from covers.features.engines.local import LocalEngine
    from covers.features.pixel import PixelFeatures

    root = tmp_path / "data"
    (root / "covers").mkdir(parents=True)
    for i, c in enumerate("abcd"):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(root / "covers" / f"{c}.png")
    (root / "covers" / "b.png").write_bytes(b"not an image")
    (root / "thumbs.csv").write_text("user_id,item_id,thumb\nu1,a,1\nu1,b,0\nu2,c,1\nu2,d,0\nu3,b,1\n")
    ex, eng = PixelFeatures(4, "gray"), LocalEngine(n_jobs=1)
    ds = FolderDataset(str(root)).load()
    info: dict = {}
    kept, X = feature_matrix(ds, ex, eng, Cache(tmp_path / "cache"), info)
    assert info["features_cache"] == "built" and X.shape == (3, 16)
    assert kept.items["item_id"].tolist() == ["a", "c", "d"] and kept.skipped.counts == {"undecodable_cover": 1}
    assert kept.skipped.rows[0]["where"].endswith("b.png")
    # the thumbs of the dropped cover went with it, the codes were renumbered (u3 only thumbed b)
    assert kept.thumbs[["user_id", "item_id", "user", "item"]].values.tolist() == [
        ["u1", "a", 0, 0], ["u2", "c", 1, 1], ["u2", "d", 1, 2]]
    from covers.data.images import decode_cover

    assert np.array_equal(X, ex.transform(np.stack([decode_cover(root / "covers" / f"{c}.png", 4, "gray")
                                                    for c in "acd"])))  # the kept covers' rows, in order
    # from the cache: the same matrix and the same report (the failures were kept beside it)
    again_info: dict = {}
    again, Y = feature_matrix(FolderDataset(str(root)).load(), ex, eng, Cache(tmp_path / "cache"), again_info)
    assert again_info["features_cache"] == "hit" and np.array_equal(X, Y)
    assert again.skipped.counts == {"undecodable_cover": 1} and again.items["item_id"].tolist() == ["a", "c", "d"]
    # no cache: the same again
    none, Z = feature_matrix(FolderDataset(str(root)).load(), ex, eng, Cache(None), {})
    assert np.array_equal(X, Z) and none.n_items == 3


def test_build_index_builds_a_file_index_once_and_rebuilds_a_fileless_one(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    cache = Cache(tmp_path)
    infos = [{}, {}]
    a, b = AnnoyIndex(n_trees=4, seed=1), AnnoyIndex(n_trees=4, seed=1)
    for idx, info in zip((a, b), infos):
        build_index(idx, X, cache, "k", info)
    assert [i["index_cache"] for i in infos] == ["built", "hit"]
    entry = cache.entry("index", "k", ".ann")
    assert a.path_ == b.path_ == str(entry) and entry.is_file()  # both opened the published entry
    assert np.array_equal(a.neighbours(5).ids, b.neighbours(5).ids)
    assert sorted(p.name for p in entry.parent.iterdir()) == ["k.ann", "k.ann.lock"]
    info: dict = {}
    build_index(ExactIndex(), X, cache, "e", info)  # keeps no file: built every time, never cached
    assert info["index_cache"] == "built" and not cache.entry("index", "e").exists()
    info = {}
    c = AnnoyIndex(n_trees=4, seed=1)
    build_index(c, X, Cache(None), "k", info)  # no cache: a private file
    assert info["index_cache"] == "built" and c.path_ != str(entry)
    assert np.array_equal(c.neighbours(5).ids, a.neighbours(5).ids)


def test_index_metrics_exact_index_has_recall_one():
    X = np.random.default_rng(1).normal(size=(120, 5)).astype(np.float32)
    m = index_metrics(ExactIndex().build(X), X, Settings(recall_k=10, recall_queries=30, seed=2))
    assert m["index_recall_at_10"] == 1.0 and m["index_query_ms_per_item"] >= 0
    one_tree = AnnoyIndex(n_trees=1, search_k=5, seed=0).build(X)
    low = index_metrics(one_tree, X, Settings(recall_k=10, recall_queries=120, seed=2))["index_recall_at_10"]
    assert 0.0 < low < 1.0
    # recall_k above the catalogue is cut to n - 1 (every other item)
    assert index_metrics(ExactIndex().build(X[:6]), X[:6], Settings(recall_k=10))["index_recall_at_5"] == 1.0
    # every index reports the same speed numbers, whatever its library
    assert m["index_qps_single"] > 0 and m["index_qps_batched"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("index", ["voyager", "faiss"])
def test_ranking_through_each_index_and_the_baselines(tmp_path, index):
    cfg = compose(tmp_path, ["dataset.n_items=400", "dataset.n_users=60", "dataset.image_size=32", "baselines=simple",
                             f"index={index}", "eval.ranking=true", "eval.ranking_n=[5,20]", "eval.n_bootstrap=20",
                             "eval.recall_queries=50"])
    s = run_job(cfg, out_dir=tmp_path / "out")
    m = s["metrics"]
    assert s["status"] == "FINISHED" and s["info"]["index_family"] == ("faiss-HNSW" if index == "faiss" else index)
    for name in ("recall_at_5", "ndcg_at_20", "down_at_20", "recall_at_20_popularity", "down_at_5_lo_random"):
        assert 0.0 <= m[name] <= 1.0, name
    assert m["recall_at_20"] >= m["recall_at_5"] and "recall_at_5_oracle" not in m
    assert "ranking_skipped_oracle" in s["info"] and (tmp_path / "out" / "ranking.csv").exists()
    assert m["index_peak_memory_bytes"] > 0 and m["index_recall_at_10"] > 0.9


@pytest.mark.slow
def test_a_tuned_run_logs_what_it_chose_and_uses_it(tmp_path, planted_dir):
    """eval.tune end to end: every method with a grid is tuned on validation; the chosen values are
    the best rows of tuning.csv, logged as tuned.<method>.<param> params, and the scored method is
    the refit with them (a run configured with those values directly gives the same test AUC)."""
    import mlflow
    import pandas as pd

    s = folder_job(tmp_path, planted_dir, "eval.tune=true", "baselines=simple", "scorer=history_knn")
    assert s["status"] == "FINISHED" and s["metrics"]["tuning_seconds"] > 0
    table = pd.read_csv(tmp_path / "out" / "tuning.csv")
    assert set(table["method"]) == {"method", "popularity"}  # random, user_mean, oracle: nothing to tune
    run = mlflow.MlflowClient(s["tracking_uri"]).get_run(s["run_id"])
    m = table[table["method"] == "method"]
    best = m.iloc[int(m["val_user_auc"].to_numpy().argmax())]
    assert run.data.params["tuned.method.k"] == str(int(best["k"]))
    assert float(run.data.params["tuned.method.shrinkage"]) == best["shrinkage"]
    fixed = folder_job(tmp_path / "fixed", planted_dir, "baselines=simple", "scorer=history_knn",
                       f"scorer.k={int(best['k'])}", f"scorer.shrinkage={best['shrinkage']}")
    assert fixed["metrics"]["user_auc"] == s["metrics"]["user_auc"]
