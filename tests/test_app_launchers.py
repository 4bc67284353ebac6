"""Hydra launchers for many runs at once (cluster=local_parallel: joblib, cluster=submitit_local,
cluster=slurm): parallel sweeps against SQLite lose nothing, failures stay isolated, and the
cluster launchers' machinery works on this machine."""
from __future__ import annotations

import pytest

from conftest import KEY_METRICS, job_runs, run_sweep


@pytest.mark.slow
def test_sixteen_jobs_eight_at_a_time_against_sqlite_lose_nothing(tmp_path, planted_dir):
    p, results = run_sweep(tmp_path, "cluster=local_parallel", "hydra.launcher.n_jobs=8",
                           "index.n_trees=1,2,3,4,5,6,7,8", "norm=zscore,l2", data_dir=planted_dir)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert len(results) == 16 and all(r["status"] == "FINISHED" for r in results)
    runs, parents = job_runs(f"sqlite:///{tmp_path}/mlflow.db")
    assert len(runs) == 16 and len(parents) == 1
    for r in runs:
        assert r.info.status == "FINISHED"
        assert all(k in r.data.metrics for k in KEY_METRICS), sorted(r.data.metrics)
        assert r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    assert {r.data.params["override.index.n_trees"] for r in runs} == {str(i) for i in range(1, 9)}


@pytest.mark.slow
def test_a_raising_and_a_killed_job_do_not_stop_the_sweep_and_rerun_redoes_only_them(tmp_path, planted_dir):
    sweep = ["cluster=local_parallel", "hydra.launcher.n_jobs=2", "features._target_=covers.app.faults.FaultyFeatures",
             "+features.fault=none,raise,sigkill", "norm=zscore,l2"]
    p, results = run_sweep(tmp_path, *sweep, data_dir=planted_dir)
    assert p.returncode == 1  # the sweep says something failed ...
    status = {tuple(o for o in r["overrides"] if o.startswith(("+features.fault", "norm="))): r["status"]
              for r in results}
    assert status == {("+features.fault=none", "norm=zscore"): "FINISHED", ("+features.fault=none", "norm=l2"): "FINISHED",
                      ("+features.fault=raise", "norm=zscore"): "FAILED", ("+features.fault=raise", "norm=l2"): "FAILED",
                      ("+features.fault=sigkill", "norm=zscore"): "KILLED", ("+features.fault=sigkill", "norm=l2"): "KILLED"}
    assert "KILLED" in p.stdout and "signal 9 (SIGKILL)" in p.stdout  # ... and lists what
    assert "injected failure" in p.stdout
    runs, _ = job_runs(f"sqlite:///{tmp_path}/mlflow.db")
    by_status = sorted(r.info.status for r in runs)
    assert by_status == ["FAILED", "FAILED", "FINISHED", "FINISHED", "KILLED", "KILLED"]
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert all("SIGKILL" in r.data.tags["covers.error"] for r in killed)

    p2, results2 = run_sweep(tmp_path, *sweep, data_dir=planted_dir, sweep="again")
    st2 = sorted(r["status"] for r in results2)
    assert st2 == ["FAILED", "FAILED", "KILLED", "KILLED", "SKIPPED", "SKIPPED"]  # finished ones not redone
    runs2, _ = job_runs(f"sqlite:///{tmp_path}/mlflow.db")
    assert len(runs2) == len(runs) + 4


@pytest.mark.slow
def test_submitit_local_executor_runs_the_sweep(tmp_path, planted_dir):
    p, results = run_sweep(tmp_path, "cluster=submitit_local", "norm=zscore,l2", data_dir=planted_dir)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert [r["status"] for r in results] == ["FINISHED", "FINISHED"]
    runs, parents = job_runs(f"sqlite:///{tmp_path}/mlflow.db")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # it really went through submitit


def test_slurm_preset_demands_a_server_and_a_shared_cache(tmp_path):
    from hydra import compose as h_compose
    from hydra import initialize_config_dir
    from omegaconf.errors import InterpolationResolutionError

    from conftest import CONF_DIR, compose

    cfg = compose(tmp_path, [])  # the base overrides set both, so compose the preset without them
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        c = h_compose(config_name="config", overrides=["cluster=slurm"], return_hydra_config=True)
    assert c.hydra.launcher._target_.endswith("SlurmLauncher")
    with pytest.raises(InterpolationResolutionError, match="tracking.uri=<your MLflow server URL>"):
        _ = c.tracking.uri
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        ok = h_compose(config_name="config", overrides=["cluster=slurm", "tracking.uri=http://mlflow:5000",
                                                         "paths.cache_dir=/shared/c"], return_hydra_config=True)
    assert ok.tracking.uri == "http://mlflow:5000" and ok.hydra.sweep.dir.startswith("/shared/c/../covers-multiruns")
    assert cfg.tracking.uri.startswith("sqlite")


