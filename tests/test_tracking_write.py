"""covers.tracking.write: config flattening and key sanitising, long params cut visibly, and
tracked_run against a sqlite store under tmp_path: a run ends FINISHED, FAILED with the error,
or KILLED for a killed job, whatever happens inside it."""
from __future__ import annotations

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from covers.tracking import write
from covers.tracking.write import flatten, log_result, params_of, sanitize_key, tracked_run
from covers.utils import JobKilled

CONFIG = {"dataset": {"_target_": "covers.data.folder.FolderDataset", "path": "/data/x"},
          "features": {"size": 16, "orientations": [8, 8, 4]}, "n_jobs": 2, "seed": 0}


def test_flatten_joins_nested_keys_with_dots():
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": None}) == {"a.b.c": 1, "a.d": [1, 2], "e": None}
    assert flatten({}) == {} and flatten(3, "x.") == {"x": 3}


def test_sanitize_key_keeps_what_mlflow_allows():
    assert sanitize_key("genre_user_auc/hip-hop jazz.x") == "genre_user_auc/hip-hop jazz.x"
    assert sanitize_key("user_auc[rock]") == "user_auc_rock_" and sanitize_key("a=b,c:d") == "a_b_c_d"
    assert sanitize_key("+dataset.signal") == "_dataset.signal"


def test_params_of_cuts_long_values_visibly():
    long = "x" * (MAX_PARAM_VAL_LENGTH + 10)
    params, cut = params_of({**CONFIG, "notes": {"long": long}, "ok": "y" * MAX_PARAM_VAL_LENGTH})
    assert cut == ["notes.long"]
    assert len(params["notes.long"]) == MAX_PARAM_VAL_LENGTH
    assert params["notes.long"].endswith(" ...[cut: full value in artifact config.yaml]")
    assert params["notes.long"].startswith("x" * 100)
    assert params["ok"] == "y" * MAX_PARAM_VAL_LENGTH  # exactly at the limit: kept whole
    assert params["features.orientations"] == "[8, 8, 4]" and params["features.size"] == "16"  # lists as JSON
    assert params["dataset._target_"] == "covers.data.folder.FolderDataset" and params["n_jobs"] == "2"


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path}/mlflow.db"


def the_run(uri, run_id):
    return MlflowClient(uri).get_run(run_id)


def test_a_run_that_ends_well_is_finished_with_its_config(store, tmp_path):
    overrides = ["norm=l2", "n_jobs=2", "paths.cache_dir=/c", "+dataset.signal=1"]
    (tmp_path / "a.txt").write_text("hi")
    with tracked_run(store, "exp", "my run", CONFIG, overrides, tags={"covers.config_hash": "h1"}) as run:
        log_result({"user_auc": 0.7, "nan_metric": float("nan"), "none_metric": None, "user_auc[rock]": 0.6},
                   {"dataset_name": "x", "skipped": "nothing skipped"}, [tmp_path / "a.txt"])
    r = the_run(store, run.info.run_id)
    assert r.info.status == "FINISHED" and r.info.run_name == "my run"
    p = r.data.params
    assert p["dataset.path"] == "/data/x" and p["features.orientations"] == "[8, 8, 4]"
    # the command-line choices that change the result, as override.* params; n_jobs and paths are not results
    assert {k: v for k, v in p.items() if k.startswith("override.")} == {"override.norm": "l2",
                                                                         "override.dataset.signal": "1"}
    t = r.data.tags
    assert t["covers.config_hash"] == "h1" and t["covers.dataset_name"] == "x" and "covers.error" not in t
    assert t["covers.version.numpy"] == np.__version__ and t["covers.git_commit"]
    m = r.data.metrics
    assert m["user_auc"] == 0.7 and np.isnan(m["nan_metric"]) and "none_metric" not in m and m["user_auc_rock_"] == 0.6
    arts = {a.path for a in MlflowClient(store).list_artifacts(run.info.run_id)}
    assert {"config.yaml", "overrides.yaml", "a.txt"} <= arts
    exp = MlflowClient(store).get_experiment_by_name("exp")
    assert exp.artifact_location == (tmp_path / "mlartifacts" / "exp").as_uri()  # next to the sqlite file
    assert write.find_finished(store, "exp", "h1").info.run_id == run.info.run_id
    assert write.find_finished(store, "exp", "other") is None and write.find_finished(store, "nope", "h1") is None


def test_a_run_that_raises_is_failed_with_the_error(store):
    with pytest.raises(ValueError, match="bad k"):
        with tracked_run(store, "exp", "failing", CONFIG, [], tags={"covers.config_hash": "h2"}) as run:
            raise ValueError("bad k")
    r = the_run(store, run.info.run_id)
    assert r.info.status == "FAILED" and r.data.tags["covers.error"] == "ValueError: bad k"
    assert "error.txt" in {a.path for a in MlflowClient(store).list_artifacts(run.info.run_id)}
    assert mlflow.active_run() is None  # ended, so the next job starts its own run
    assert write.find_finished(store, "exp", "h2") is None  # a failed run is never resumed from


@pytest.mark.parametrize("exc", [JobKilled("work process killed by signal 9 (SIGKILL)"), KeyboardInterrupt()])
def test_a_killed_job_is_killed(store, exc):
    with pytest.raises(type(exc)):
        with tracked_run(store, "exp", "killed", CONFIG, []) as run:
            raise exc
    r = the_run(store, run.info.run_id)
    assert r.info.status == "KILLED" and r.data.tags["covers.error"].startswith(type(exc).__name__)


def test_a_work_killed_subclass_is_a_job_killed():
    from covers.app.isolation import WorkKilled

    assert issubclass(WorkKilled, JobKilled)


def test_long_params_are_cut_and_listed_in_a_tag(store, tmp_path):
    config = {**CONFIG, "notes": "z" * (MAX_PARAM_VAL_LENGTH + 1)}
    with tracked_run(store, "exp", "long", config, []) as run:
        pass
    r = the_run(store, run.info.run_id)
    assert r.data.tags["covers.params_cut"] == "notes" and len(r.data.params["notes"]) == MAX_PARAM_VAL_LENGTH
    logged = MlflowClient(store).download_artifacts(run.info.run_id, "config.yaml", str(tmp_path))
    assert yaml.safe_load(open(logged))["notes"] == "z" * (MAX_PARAM_VAL_LENGTH + 1)  # whole in the artifact


def test_end_lost_and_the_parent_run(store, tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    parent = write.start_parent(store, "exp", sweep, ["norm=l2,zscore"])
    with tracked_run(store, "exp", "job", CONFIG, [], parent_run_id=parent) as run:
        pass
    assert [c.info.run_id for c in write.child_runs(store, parent)] == [run.info.run_id]
    (tmp_path / "comparison.csv").write_text("a\n")
    write.finish_parent(store, parent, [tmp_path / "comparison.csv"], 1, {"best_user_auc": 0.7})
    p = the_run(store, parent)
    assert p.info.status == "FAILED" and p.data.tags["covers.n_failed"] == "1" and p.data.tags["covers.kind"] == "sweep"
    assert p.data.metrics["best_user_auc"] == 0.7 and p.data.tags["covers.sweep_dir"] == str(sweep)
    lost = MlflowClient(store).create_run(MlflowClient(store).get_experiment_by_name("exp").experiment_id).info.run_id
    write.end_lost(store, lost, "the job's Ray task was lost: WorkerCrashedError", status="FAILED")
    r = the_run(store, lost)
    assert r.info.status == "FAILED" and r.data.tags["covers.error"].startswith("the job's Ray task was lost")


def test_retrying_waits_out_a_locked_database_only(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    calls = []

    def flaky(x):
        calls.append(x)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return x * 2

    assert write.retrying(flaky, 21) == 42 and len(calls) == 3
    calls.clear()

    def broken():
        calls.append(1)
        raise RuntimeError("no such table")

    with pytest.raises(RuntimeError, match="no such table"):
        write.retrying(broken)
    assert len(calls) == 1  # not contention: raised at once
    with pytest.raises(RuntimeError, match="locked"):
        write.retrying(lambda: (_ for _ in ()).throw(RuntimeError("database is locked")), attempts=2)


def test_ui_command():
    assert write.ui_command("sqlite:///x.db") == "mlflow ui --backend-store-uri sqlite:///x.db"
    assert write.ui_command("http://mlflow:5000") == "open http://mlflow:5000"


def test_resolve_uri(monkeypatch):
    from covers.tracking import resolve_uri
    from covers.utils import PROJECT_ROOT

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_uri("sqlite:///set.db") == "sqlite:///set.db" and resolve_uri(None) == "http://env:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_uri(None) == resolve_uri("") == f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    assert write.resolve_uri is resolve_uri
