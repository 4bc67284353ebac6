"""covers.tracking.read: what a sweep varied (swept_params), the comparison table and the sweep
chart, on a hand-made frame shaped like mlflow.search_runs' answer; runs_frame on a real store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covers.tracking.read import DEFAULT_METRICS, comparison_table, is_timing, runs_frame, swept_params, sweep_chart


def frame() -> pd.DataFrame:
    """Four job runs as mlflow.search_runs returns them: params as strings, metrics as floats."""
    return pd.DataFrame({
        "run_id": ["a" * 32, "b" * 32, "c" * 32, "d" * 32],
        "status": ["FINISHED", "FINISHED", "FAILED", "FINISHED"],
        "tags.mlflow.runName": ["norm=zscore", "norm=l2", "norm=pca", "norm=none"],
        "params.override.norm": ["zscore", "l2", "pca", "none"],
        "params.override.n_jobs": ["1", "2", "1", "2"],  # varied, but never a result
        "params.norm._target_": ["covers.norm.RowZScore", "sklearn.preprocessing.Normalizer",
                                 "sklearn.decomposition.PCA", "sklearn.preprocessing.FunctionTransformer"],
        "params.seed": ["0", "0", "0", "0"],
        "metrics.user_auc": [0.61, 0.64, np.nan, 0.58],
        "metrics.user_auc_lo": [0.55, 0.6, np.nan, 0.5],
        "metrics.user_auc_hi": [0.66, 0.69, np.nan, 0.62],
        "metrics.thumbs_auc": [0.7, 0.72, np.nan, 0.69],
        "metrics.run_seconds": [3.0, 2.0, 1.0, 4.0],
    })


def test_swept_params_prefers_the_command_line_overrides():
    df = frame()
    assert swept_params(df) == ["override.norm", "override.n_jobs"]  # what differs; seed does not
    no_overrides = df.drop(columns=["params.override.norm", "params.override.n_jobs"])
    assert swept_params(no_overrides) == ["norm._target_"]  # else any config value that differs
    one_value = df.assign(**{"params.override.norm": "l2", "params.override.n_jobs": "1"})
    assert swept_params(one_value) == ["norm._target_"]  # overrides that did not vary are not a sweep
    with_nan = no_overrides.assign(**{"params.norm._target_": ["x", np.nan, "x", "x"]})
    assert swept_params(with_nan) == ["norm._target_"]  # unset in one run counts as a value


def test_comparison_table_sorts_by_user_auc_with_failures_last():
    t = comparison_table(frame())
    assert list(t.columns) == ["run_id", "run", "status", "override.norm", "override.n_jobs", "user_auc", "user_auc_lo",
                               "user_auc_hi", "thumbs_auc"]  # DEFAULT_METRICS present in the frame, in its order
    assert t["run"].tolist() == ["norm=l2", "norm=zscore", "norm=none", "norm=pca"]  # NaN last
    assert t["run_id"].tolist()[0] == "b" * 8 and t.loc[0, "user_auc"] == 0.64 and t.loc[0, "override.norm"] == "l2"
    assert [m for m in DEFAULT_METRICS if f"metrics.{m}" in frame()] == ["user_auc", "user_auc_lo", "user_auc_hi",
                                                                          "thumbs_auc"]
    asc = comparison_table(frame(), metrics=["thumbs_auc", "run_seconds"], sort="run_seconds", ascending=True)
    assert asc["run"].tolist() == ["norm=pca", "norm=l2", "norm=zscore", "norm=none"]
    assert list(asc.columns)[-2:] == ["thumbs_auc", "run_seconds"]
    assert comparison_table(frame(), sort=None)["run"].tolist() == frame()["tags.mlflow.runName"].tolist()
    with pytest.raises(ValueError, match="cannot sort by 'coverage'"):
        comparison_table(frame(), sort="coverage")
    no_auc = frame().drop(columns=[c for c in frame() if c.startswith("metrics.user_auc")])
    assert comparison_table(no_auc)["run"].tolist() == frame()["tags.mlflow.runName"].tolist()  # default: no error


def test_sweep_chart_has_a_panel_per_result_parameter(tmp_path):
    path = sweep_chart(frame(), tmp_path / "chart.png")
    assert path == tmp_path / "chart.png"
    with Image.open(path) as im:  # one panel: override.n_jobs is no result, so it is not charted
        assert im.size == (4 * 110, round(3.2 * 110))
    two = frame().assign(**{"params.override.index.n_trees": ["1", "2", "3", "4"]})
    with Image.open(sweep_chart(two, tmp_path / "two.png", "thumbs_auc")) as im:
        assert im.size == (8 * 110, round(3.2 * 110))
    assert sweep_chart(frame(), tmp_path / "none.png", "coverage") is None and not (tmp_path / "none.png").exists()
    flat = frame().drop(columns=["params.override.norm"]).assign(**{"params.norm._target_": "x"})
    assert sweep_chart(flat, tmp_path / "flat.png") is None  # only n_jobs varied: nothing to chart


def test_is_timing():
    assert all(map(is_timing, ["run_seconds", "features_seconds", "index_query_ms_per_item", "index_build_seconds"]))
    assert not any(map(is_timing, ["user_auc", "index_size_bytes", "index_recall_at_10", "diff_user_auc_lo_random"]))


def test_runs_frame_on_a_store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/m.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(exp, run_name="sweep", tags={"covers.kind": "sweep"}).info.run_id
    kids = []
    for norm, auc in (("l2", 0.6), ("zscore", 0.7)):
        r = client.create_run(exp, run_name=f"norm={norm}", tags={"mlflow.parentRunId": parent})
        client.log_param(r.info.run_id, "override.norm", norm)
        client.log_metric(r.info.run_id, "user_auc", auc)
        client.set_terminated(r.info.run_id)
        kids.append(r.info.run_id)
    other = client.create_run(exp, run_name="alone").info.run_id
    all_jobs = runs_frame(uri, "e")
    assert sorted(all_jobs["run_id"]) == sorted([*kids, other])  # the sweep's parent run is not a job
    assert sorted(runs_frame(uri, parent_id=parent)["run_id"]) == sorted(kids)
    assert runs_frame(uri, run_ids=[kids[1]])["run_id"].tolist() == [kids[1]]
    t = comparison_table(runs_frame(uri, parent_id=parent))
    assert t["run"].tolist() == ["norm=zscore", "norm=l2"] and t["override.norm"].tolist() == ["zscore", "l2"]
    with pytest.raises(ValueError, match="no experiment named 'nope'"):
        runs_frame(uri, "nope")
