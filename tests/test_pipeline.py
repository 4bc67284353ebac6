"""End to end through the real config: planted signal, no leakage, determinism, MLflow records."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from hydra.utils import instantiate

from conftest import CONF_DIR, compose
from covers.app.task import run_job

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "_ms_")


def result_metrics(summary):
    return {k: v for k, v in summary["metrics"].items() if not any(t in k for t in TIMING)}


def folder_job(tmp_path, data_dir, *extra):
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={data_dir}", *extra])
    return run_job(cfg, out_dir=tmp_path / "out")


def test_planted_signal_gives_auc_near_one(tmp_path, planted_dir):
    s = folder_job(tmp_path, planted_dir)
    m = s["metrics"]
    assert s["status"] == "FINISHED"
    assert m["user_auc"] > 0.95 and m["thumbs_auc"] > 0.95
    assert m["coverage"] > 0.9
    assert abs(m["thumbs_auc_random"] - 0.5) < 0.1


def test_no_leakage_thumbs_independent_of_covers_stay_at_chance(tmp_path, null_dir):
    m = folder_job(tmp_path, null_dir)["metrics"]
    assert m["user_auc_lo"] <= 0.5 <= m["user_auc_hi"]
    assert abs(m["thumbs_auc"] - 0.5) < 0.05


def test_same_config_same_metrics(tmp_path, planted_dir):
    a = folder_job(tmp_path / "a", planted_dir, "index.n_trees=3", "index.search_k=30")
    b = folder_job(tmp_path / "b", planted_dir, "index.n_trees=3", "index.search_k=30")
    np.testing.assert_equal(result_metrics(a), result_metrics(b))  # exact, NaN == NaN
    c = folder_job(tmp_path / "a", planted_dir, "index.n_trees=3", "index.search_k=30")  # now from the cache
    assert c["info"]["features_cache"] == "hit" and c["info"]["index_cache"] == "hit"
    np.testing.assert_equal(result_metrics(a), result_metrics(c))


def test_mlflow_run_has_metrics_params_tags_and_artifacts(tmp_path, planted_dir):
    s = folder_job(tmp_path, planted_dir, "norm=l2")
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


@pytest.mark.parametrize("group,choices", [
    ("dataset", ["synthetic", "folder"]), ("features", ["pixel", "gist", "gist_gray"]),
    ("norm", ["none", "zscore", "l2", "standardize", "pca"]), ("index", ["annoy", "exact"]),
    ("split", ["user_holdout", "temporal", "cold_items"]), ("scorer", ["knn", "centroid"]), ("baselines", ["default", "none", "simple"]), ("engine", ["local", "dask"]),
])
def test_every_group_composes_and_instantiates(tmp_path, group, choices):
    assert sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")) == sorted(choices)
    for c in choices:
        extra = ["dataset.path=/x"] if (group, c) == ("dataset", "folder") else []
        cfg = compose(tmp_path, [f"{group}={c}", *extra])
        part = instantiate(cfg[group], _convert_="all")
        assert part is not None


def test_seed_recipe_is_the_default_config(tmp_path):
    cfg = compose(tmp_path, [])
    assert (cfg.features.size, cfg.features.mode, cfg.norm._target_) == (16, "gray", "covers.norm.RowZScore")


@pytest.mark.slow
def test_cli_sweep_isolates_a_failing_job(tmp_path, planted_dir):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/env.db"}
    cmd = [sys.executable, "run.py", "-m", "dataset=folder", f"dataset.path={planted_dir}", "scorer.k=0,20",
           f"paths.cache_dir={tmp_path}/cache", f"hydra.sweep.dir={tmp_path}/sweep", "eval.n_bootstrap=50"]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr[-3000:]  # a failed job makes the sweep's exit status say so
    # run names = the overrides, with paths cut to their last part (params keep them whole)
    name = f"dataset=folder,dataset.path={planted_dir.name},scorer.k=%d,eval.n_bootstrap=50"
    assert f"FAILED {name % 0}: " in p.stdout
    assert "k must be >= 1, got 0" in p.stdout
    results = [json.loads(f.read_text()) for f in sorted((tmp_path / "sweep").glob("*/result.json"))]
    assert [r["status"] for r in results] == ["FAILED", "FINISHED"]
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])  # the environment variable chose the store
    runs = client.search_runs([client.get_experiment_by_name("covers").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert by_name[name % 0].info.status == "FAILED"
    assert "k must be >= 1" in by_name[name % 0].data.tags["covers.error"]
    assert by_name[name % 20].info.status == "FINISHED"


@pytest.mark.parametrize("group,choice,check", [
    ("experiment", "seed_2014", lambda c: c.hydra.sweeper.params.features == "pixel,gist" and c.tracking.experiment == "seed_2014"),
    ("search", "optuna", lambda c: c.hydra.sweeper._target_.endswith("OptunaSweeper") and "norm" in c.hydra.sweeper.params),
    ("cluster", "local_parallel", lambda c: c.hydra.launcher._target_.endswith("JoblibLauncher")),
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
