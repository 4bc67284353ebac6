"""covers.app.summary: the one-screen sweep summary rendered from a hand-made sweep folder of
result.json files: a row per job in job order, a line per failure, the user_mean note, the count
of failed jobs the sweep's exit status comes from."""
from __future__ import annotations

import json

from covers.app.summary import SHOWN, render, sweep_table


def write_results(sweep, results):
    for i, r in enumerate(results):
        (sweep / str(i)).mkdir(parents=True)
        (sweep / str(i) / "result.json").write_text(json.dumps(r))


def test_summary_counts_a_job_left_running_as_failed(tmp_path):
    """A result.json still saying RUNNING at the end: the job's process vanished unrecorded."""
    write_results(tmp_path, [
        {"name": "a", "status": "FINISHED", "tracking_uri": "sqlite:///x.db", "seconds": 1.0,
         "metrics": {"user_auc": 0.61, "thumbs_auc": 0.6}},
        {"name": "b", "status": "RUNNING", "tracking_uri": "sqlite:///x.db", "run_id": "r123"},
        {"name": "c", "status": "KILLED", "tracking_uri": "sqlite:///x.db", "error": "WorkerCrashedError: gone"},
    ])
    text, n_failed = render(tmp_path)
    assert n_failed == 2
    assert "RUNNING b: its process was lost while the job ran (MLflow run r123)" in text
    assert "KILLED c: WorkerCrashedError: gone" in text


def job(name, status, **kw):
    return {"name": name, "status": status, "tracking_uri": "sqlite:///x.db", "seconds": 2.0, **kw}


def test_render_a_sweep(tmp_path):
    results = [job(f"norm={n}", "FINISHED", run_id=f"r{n}", metrics={"user_auc": u, "thumbs_auc": t,
                                                                     "thumbs_auc_user_mean": m, "coverage": 1.0})
               for n, u, t, m in (("zscore", 0.61, 0.70, 0.69), ("l2", 0.58, 0.66, 0.71))]
    results += [job("norm=none", "SKIPPED", run_id="old", metrics={"user_auc": 0.55, "thumbs_auc": 0.6}),
                job("norm=pca", "FAILED", error="ValueError: bad"),
                job("norm=standardize", "KILLED", error="WorkKilled: signal 9"),
                job("scorer.k=5", "FINISHED", metrics={"user_auc": 0.5, "thumbs_auc": 0.5}),
                job("scorer.k=6", "FINISHED", metrics={"user_auc": 0.5, "thumbs_auc": 0.5}),
                job("scorer.k=7", "FINISHED", metrics={"user_auc": 0.5, "thumbs_auc": 0.5}),
                job("scorer.k=8", "FINISHED", metrics={"user_auc": 0.5, "thumbs_auc": 0.5}),
                job("scorer.k=9", "FINISHED", metrics={"user_auc": 0.5, "thumbs_auc": 0.5}),
                job("scorer.k=10", "FINISHED", metrics={"user_auc": 0.5, "thumbs_auc": 0.5})]  # job 10 after 9
    write_results(tmp_path, results)
    table, read = sweep_table(tmp_path)
    assert table["job"].tolist() == [str(i) for i in range(11)]  # numeric order, not 0, 1, 10, 2, ...
    assert table["run"].tolist() == [r["name"] for r in results] and read == results
    assert table.loc[0, "user_auc"] == 0.61 and table.loc[1, "thumbs_auc_user_mean"] == 0.71
    assert [c for c in table.columns if c in SHOWN] == ["user_auc", "coverage", "thumbs_auc", "thumbs_auc_user_mean"]
    text, n_failed = render(tmp_path)
    lines = text.splitlines()
    assert n_failed == 2 and lines[0] == f"[covers] sweep {tmp_path}"
    assert lines[1].split() == ["job", "run", "status", "user_auc", "coverage", "thumbs_auc", "thumbs_auc_user_mean",
                                "seconds"]
    assert lines[2].split() == ["0", "norm=zscore", "FINISHED", "0.6100", "1.0000", "0.7000", "0.6900", "2.0000"]
    assert "  1 job(s) skipped: already FINISHED with the same config and code (resume=false reruns them)" in lines
    assert "  FAILED norm=pca: ValueError: bad" in lines and "  KILLED norm=standardize: WorkKilled: signal 9" in lines
    # user_mean beats the method's global AUC in one run (l2: 0.71 > 0.66): said once, with the count
    note = [x for x in lines if "user_mean" in x and "note" in x]
    assert len(note) == 1 and "in 1 run(s)" in note[0] and "judge by user_auc" in note[0]
    assert lines[-1] == "  browse: mlflow ui --backend-store-uri sqlite:///x.db"


def test_render_without_failures_or_results(tmp_path):
    write_results(tmp_path / "ok", [job("a", "FINISHED", metrics={"user_auc": 0.7, "thumbs_auc": 0.8}),
                                    {**job("b", "FINISHED", metrics={"user_auc": 0.7, "thumbs_auc": 0.8}),
                                     "tracking_uri": "http://mlflow:5000"}])
    text, n_failed = render(tmp_path / "ok")
    assert n_failed == 0 and "FAILED" not in text and "note" not in text and "skipped" not in text
    assert text.splitlines()[-1] == "  browse: open http://mlflow:5000 ; mlflow ui --backend-store-uri sqlite:///x.db"
    (tmp_path / "empty").mkdir()
    assert render(tmp_path / "empty") == (f"[covers] no job results under {tmp_path / 'empty'}", 0)
