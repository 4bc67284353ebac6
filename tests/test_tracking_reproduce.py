"""covers.tracking.reproduce: a logged run re-run from its own config gives identical metrics; a
changed code version or dataset is reported and stops the rerun; a sweep's parent reruns its jobs."""
from __future__ import annotations

import shutil

import mlflow
import pytest
from PIL import Image

from conftest import compose
from covers.app.task import run_job
from covers.tracking.read import is_timing
from covers.tracking import write
from covers.tracking.reproduce import reproduce, reproduce_one


@pytest.mark.slow
def test_reproduce_gives_identical_metrics_and_detects_changes(tmp_path, planted_dir):
    data = tmp_path / "data"
    shutil.copytree(planted_dir, data)
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={data}", "baselines=simple", "index.n_trees=3"])
    first = run_job(cfg, tmp_path / "out")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    lines: list[str] = []
    out = reproduce_one(uri, first["run_id"], run_job, allow_mismatch=True, fresh_cache=True,
                        out_root=tmp_path / "re", echo=lines.append)
    assert out.new_run_id and out.compared > 40 and out.differing == []
    client = mlflow.MlflowClient(uri)
    new = client.get_run(out.new_run_id)
    assert new.data.tags["covers.reproduces"] == first["run_id"]
    old = client.get_run(first["run_id"]).data.metrics
    for k, v in old.items():
        if not is_timing(k):
            assert new.data.metrics[k] == v or (v != v and new.data.metrics[k] != new.data.metrics[k]), k
    assert any("identical bit for bit" in line for line in lines)

    # a sweep's parent run: each of its FINISHED jobs is rerun (a failed one is not)
    parent = write.start_parent(uri, "covers", tmp_path, ["index.n_trees=3"])
    client.set_tag(first["run_id"], "mlflow.parentRunId", parent)
    failed = client.create_run(client.get_run(first["run_id"]).info.experiment_id, tags={"mlflow.parentRunId": parent})
    client.set_terminated(failed.info.run_id, "FAILED")
    outs = reproduce(uri, parent, run_job, allow_mismatch=True, out_root=tmp_path / "re-sweep", echo=lines.append)
    assert [o.run_id for o in outs] == [first["run_id"]] and outs[0].differing == [] and outs[0].new_run_id

    # a different code version is reported and stops the rerun
    client.set_tag(first["run_id"], "covers.git_commit", "0" * 40)
    stopped = reproduce_one(uri, first["run_id"], run_job, echo=lines.append, out_root=tmp_path / "re2")
    assert stopped.new_run_id is None
    assert any("run used commit 0000000000" in m for m in stopped.mismatches)
    # so is a changed dataset
    Image.new("RGB", (64, 64), (9, 9, 9)).save(next((data / "covers").glob("*.png")))
    changed = reproduce_one(uri, first["run_id"], run_job, echo=lines.append, out_root=tmp_path / "re3")
    assert any(m.startswith("dataset: content fingerprint was") for m in changed.mismatches)
    assert changed.new_run_id is None


