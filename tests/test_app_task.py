"""covers.app.task, the Hydra task: every config group composes into its part, a job's MLflow
run records metrics, params, tags and artifacts, run names are the result overrides, a failing
job of a sweep is isolated, and a sweep groups its runs under a parent and resumes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
from hydra.utils import get_class, instantiate

from conftest import CONF_DIR, compose, job_runs, run_sweep
from covers.app.task import run_job, run_name


def folder_job(tmp_path, data_dir, *extra):
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={data_dir}", *extra])
    return run_job(cfg, out_dir=tmp_path / "out")


@pytest.mark.slow
def test_mlflow_run_has_metrics_params_tags_and_artifacts(tmp_path, planted_dir):
    s = folder_job(tmp_path, planted_dir, "norm=l2", "baselines=simple")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(s["run_id"])
    assert run.info.status == "FINISHED"
    for k in ("thumbs_auc", "user_auc", "coverage", "thumbs_auc_random", "thumbs_auc_popularity",
              "coverage_random", "index_recall_at_10", "index_build_seconds", "index_size_bytes",
              "index_query_ms_per_item"):
        assert k in run.data.metrics, k
    assert run.data.metrics["thumbs_auc"] == pytest.approx(s["metrics"]["thumbs_auc"])
    assert run.data.params["norm._target_"] == "sklearn.preprocessing.Normalizer"
    assert run.data.params["features.size"] == "16"
    tags = run.data.tags
    assert len(tags["covers.git_commit"]) in (40, 7) or tags["covers.git_commit"] == "unknown"
    assert tags["covers.dataset_fingerprint"] == s["info"]["dataset_fingerprint"]
    assert tags["covers.version.numpy"] == np.__version__
    assert "covers.baseline_skipped_oracle" in tags  # no true_score in a folder dataset: said, not hidden
    arts = {a.path for a in client.list_artifacts(s["run_id"])}
    assert {"config.yaml", "overrides.yaml", "similar_covers.png", "auc.png", "roc.png", "scores.parquet"} <= arts


BASELINES = {"default": ["random", "popularity", "user_mean", "item_knn_cf", "als", "bpr", "ease", "content_to_cf",
                         "oracle"],
             "full": ["random", "popularity", "user_mean", "item_knn_cf", "als", "bpr", "ease", "content_to_cf",
                      "oracle", "vbpr"],
             "simple": ["random", "popularity", "user_mean", "oracle"], "none": []}


@pytest.mark.parametrize("group,choices", [
    ("dataset", ["synthetic", "folder"]), ("features", ["pixel", "gist", "gist_gray"]),
    ("norm", ["none", "zscore", "l2", "standardize", "pca"]), ("index", ["annoy", "exact", "faiss", "voyager"]),
    ("split", ["user_holdout", "temporal", "cold_items", "cold_artists"]), ("scorer", ["knn", "history_knn", "centroid"]),
    ("baselines", ["default", "full", "none", "simple"]), ("engine", ["local", "dask"]),
])
def test_every_group_composes_and_instantiates(tmp_path, group, choices):
    from covers.scorers.base import Scorer

    assert sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")) == sorted(choices)
    for c in choices:
        extra = ["dataset.path=/x"] if (group, c) == ("dataset", "folder") else []
        cfg = compose(tmp_path, [f"{group}={c}", *extra])
        part = instantiate(cfg[group], _convert_="all")
        if group == "baselines":  # a named list of scorers, in the order of its defaults list
            assert list(part) == BASELINES[c] and all(isinstance(b, Scorer) for b in part.values())
            for name, b in part.items():
                assert type(b) is get_class(cfg.baselines[name]._target_)
                b.check()
            continue
        assert type(part) is get_class(cfg[group]._target_), (group, c)
        if hasattr(part, "check"):
            part.check()  # the shipped settings are valid


def test_build_parts_gives_one_part_per_group(tmp_path):
    from covers.app.task import build_parts, settings_of

    cfg = compose(tmp_path, ["n_jobs=3", "eval.recall_k=7", "seed=5"])
    parts = build_parts(cfg)
    assert [type(getattr(parts, g)).__name__ for g in ("dataset", "features", "norm", "index", "split", "scorer",
                                                       "engine")] == [
        "SyntheticWorld", "PixelFeatures", "RowZScore", "AnnoyIndex", "UserHoldout", "KNNScorer", "LocalEngine"]
    assert list(parts.baselines) == BASELINES["default"]
    assert parts.engine.n_jobs == 3 and parts.index.query_jobs == 3 and parts.index.seed == 5  # ${n_jobs}, ${seed}
    assert parts.baselines["content_to_cf"].cf.get_params() == parts.baselines["als"].get_params()  # cf: ${..als}
    s = settings_of(cfg)
    assert (s.cache_dir, s.recall_k, s.seed, s.n_bootstrap) == (f"{tmp_path}/cache", 7, 5, 100)


def test_run_names_are_the_result_overrides_with_paths_cut(tmp_path):
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(compose(tmp_path, []), resolve=True)
    overrides = ["dataset.path=/data/mine/covers/", "n_jobs=4", "paths.cache_dir=/x/c", "norm=l2",
                 "index.query_jobs=2", "engine.chunk_size=64", "index.n_trees=3", "tracking.uri=sqlite:///a/b.db",
                 "features.size=16,32"]
    assert run_name(overrides, config) == "dataset.path=covers,norm=l2,index.n_trees=3,features.size=16,32"
    assert run_name([], config) == run_name(["n_jobs=2", "hydra.sweep.dir=/s"], config) == "defaults"


def test_seed_recipe_is_the_default_config(tmp_path):
    cfg = compose(tmp_path, [])
    assert (cfg.features.size, cfg.features.mode, cfg.norm._target_) == (16, "gray", "covers.norm.RowZScore")


@pytest.mark.parametrize("group,choice,check", [
    ("experiment", "seed_2014", lambda c: c.hydra.sweeper.params.features == "pixel,gist" and c.tracking.experiment == "seed_2014"),
    ("experiment", "warm_cold", lambda c: dict(c.hydra.sweeper.params) == {
        "split": "user_holdout,cold_items", "features": "pixel,gist", "scorer": "knn,history_knn"}
     and c.tracking.experiment == "warm_cold" and c.eval.tune),
    ("search", "optuna", lambda c: c.hydra.sweeper._target_.endswith("OptunaSweeper") and "norm" in c.hydra.sweeper.params),
    ("cluster", "local_parallel", lambda c: c.hydra.launcher._target_.endswith("JoblibLauncher") and c.n_jobs == 1),
    ("cluster", "submitit_local", lambda c: c.hydra.launcher._target_.endswith("LocalLauncher")),
    ("cluster", "ray", lambda c: c.hydra.launcher._target_.endswith("CoversRayLauncher")
     and c.hydra.launcher.ray.remote.num_cpus == c.n_jobs and c.hydra.launcher.check_cluster),
])
def test_global_presets_compose(group, choice, check):
    from hydra import compose as h_compose
    from hydra import initialize_config_dir

    assert choice in [p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        c = h_compose(config_name="config", overrides=[f"{group}={choice}"], return_hydra_config=True)
    assert check(c)


def test_run_job_outside_hydra_needs_an_out_dir(tmp_path):
    with pytest.raises(ValueError, match="needs an out_dir"):
        run_job(compose(tmp_path, []))


def test_a_failing_job_outside_a_sweep_records_its_run_and_raises(tmp_path, planted_dir):
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={planted_dir}", "baselines=none", "isolate=false",
                             "scorer.k=0"])
    with pytest.raises(ValueError, match="KNNScorer: k must be an int >= 1, got 0"):
        run_job(cfg, out_dir=tmp_path / "out", name="bad k")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "FAILED" and result["error"] == "ValueError: KNNScorer: k must be an int >= 1, got 0"
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(result["run_id"])
    assert run.info.status == "FAILED" and run.info.run_name == "bad k"
    assert run.data.tags["covers.error"] == result["error"]
    assert run.data.tags["covers.config_hash"] == result["config_hash"]


@pytest.mark.slow
def test_cli_sweep_isolates_a_failing_job(tmp_path, planted_dir):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/env.db"}
    p, results = run_sweep(tmp_path, "scorer.k=0,20", data_dir=planted_dir, uri="", env=env, timeout=300)
    assert p.returncode == 1, p.stderr[-3000:]  # a failed job makes the sweep's exit status say so
    # run names = the result overrides, with paths cut to their last part (params keep them whole);
    # the cache and sweep dirs are not results, so not in the name
    name = (f"dataset=folder,dataset.path={planted_dir.name},baselines=simple,eval.n_bootstrap=50,"
            "eval.recall_queries=50,eval.grid_queries=2,eval.grid_neighbours=3,scorer.k=%d")
    assert f"FAILED {name % 0}: " in p.stdout
    assert "KNNScorer: k must be an int >= 1, got 0" in p.stdout
    assert [r["status"] for r in results] == ["FAILED", "FINISHED"]
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])  # the environment variable chose the store
    runs = client.search_runs([client.get_experiment_by_name("covers").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert by_name[name % 0].info.status == "FAILED"
    assert "KNNScorer: k must be an int >= 1" in by_name[name % 0].data.tags["covers.error"]
    assert by_name[name % 20].info.status == "FINISHED"
    assert by_name[name % 20].data.params["dataset.path"] == str(planted_dir)


@pytest.mark.slow
def test_sweep_groups_runs_under_a_parent_and_resumes(tmp_path, planted_dir):
    p, _ = run_sweep(tmp_path, "norm=zscore,l2", data_dir=planted_dir, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    kids, parents = job_runs(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert all(r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id for r in kids)
    assert sorted(r.data.params["override.norm"] for r in kids) == ["l2", "zscore"]
    arts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"comparison.csv", "comparison.md", "sweep_user_auc.png"} <= arts
    assert "sweep parent run" in p.stdout

    # started again with one more job: the finished two are skipped, only the new one runs
    p2, results = run_sweep(tmp_path, "norm=zscore,l2,none", data_dir=planted_dir, sweep="sweep2", timeout=300)
    assert p2.returncode == 0, p2.stdout[-2000:] + p2.stderr[-3000:]
    assert [r["status"] for r in results] == ["SKIPPED", "SKIPPED", "FINISHED"]
    assert {r["run_id"] for r in results[:2]} == {r.info.run_id for r in kids}
    assert "2 job(s) skipped" in p2.stdout
    # resume=false forces a rerun
    p3, (r3,) = run_sweep(tmp_path, "norm=zscore", "resume=false", data_dir=planted_dir, sweep="sweep3", timeout=300)
    assert p3.returncode == 0 and r3["status"] == "FINISHED" and r3["run_id"] not in {r.info.run_id for r in kids}


@pytest.mark.slow
def test_resume_reruns_a_finished_job_when_its_dataset_changed(tmp_path, planted_dir):
    """Issue #18: a rerun after the data changed must not report the old results as current."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(planted_dir, data)
    p, (r1,) = run_sweep(tmp_path, "norm=zscore", data_dir=data, timeout=300)
    assert p.returncode == 0 and r1["status"] == "FINISHED", p.stdout[-2000:] + p.stderr[-3000:]
    p, (r2,) = run_sweep(tmp_path, "norm=zscore", data_dir=data, sweep="sweep2", timeout=300)
    assert r2["status"] == "SKIPPED" and r2["run_id"] == r1["run_id"]  # nothing changed: resumed
    thumbs = data / "thumbs.csv"
    lines = thumbs.read_text().splitlines()
    thumbs.write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # half the thumbs removed in place
    p, (r3,) = run_sweep(tmp_path, "norm=zscore", data_dir=data, sweep="sweep3", timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert r3["status"] == "FINISHED" and r3["run_id"] != r1["run_id"]
    assert r3["resume_refused"].startswith("the dataset changed since") and "rerunning, not resuming" in p.stdout
    assert r3["metrics"]["data_n_thumbs"] < r1["metrics"]["data_n_thumbs"]
