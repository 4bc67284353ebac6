"""Reproduce, resume, sweep grouping and the cache's guarantees."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from conftest import compose
from covers.app.task import run_job
from covers.cache import ArrayCache, key_of
from covers.tracking.reproduce import reproduce_one
from covers.tracking.read import is_timing

ROOT = Path(__file__).resolve().parents[1]


def sweep(tmp_path, data_dir, *extra, sweep_dir="sweep"):
    cmd = [sys.executable, "run.py", "-m", "dataset=folder", f"dataset.path={data_dir}", "baselines=simple",
           f"paths.cache_dir={tmp_path}/cache", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
           f"hydra.sweep.dir={tmp_path}/{sweep_dir}", "eval.n_bootstrap=50", *extra]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p.stdout


def test_reproduce_gives_identical_metrics_and_detects_changes(tmp_path, planted_dir):
    data = tmp_path / "data"
    shutil.copytree(planted_dir, data)
    cfg = compose(tmp_path, ["dataset=folder", f"dataset.path={data}", "baselines=simple", "index.n_trees=3"])
    first = run_job(cfg, tmp_path / "out")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    lines: list[str] = []
    out = reproduce_one(uri, first["run_id"], allow_mismatch=True, fresh_cache=True, out_root=tmp_path / "re",
                        echo=lines.append)
    assert out.new_run_id and out.compared > 40 and out.differing == []
    client = mlflow.MlflowClient(uri)
    new = client.get_run(out.new_run_id)
    assert new.data.tags["covers.reproduces"] == first["run_id"]
    old = client.get_run(first["run_id"]).data.metrics
    for k, v in old.items():
        if not is_timing(k):
            assert new.data.metrics[k] == v or (v != v and new.data.metrics[k] != new.data.metrics[k]), k
    assert any("identical bit for bit" in line for line in lines)

    # a different code version is reported and stops the rerun
    client.set_tag(first["run_id"], "covers.git_commit", "0" * 40)
    stopped = reproduce_one(uri, first["run_id"], echo=lines.append, out_root=tmp_path / "re2")
    assert stopped.new_run_id is None
    assert any("run used commit 0000000000" in m for m in stopped.mismatches)
    # so is a changed dataset
    Image.new("RGB", (64, 64), (9, 9, 9)).save(next((data / "covers").glob("*.png")))
    changed = reproduce_one(uri, first["run_id"], echo=lines.append, out_root=tmp_path / "re3")
    assert any(m.startswith("dataset: content fingerprint was") for m in changed.mismatches)
    assert changed.new_run_id is None


def test_cache_hit_returns_exactly_what_would_be_computed(tmp_path):
    cache = ArrayCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return np.random.default_rng(0).normal(size=(50, 7)).astype(np.float32)

    a, hit_a = cache.get_or_compute("features", key_of("x", 1), compute)
    b, hit_b = cache.get_or_compute("features", key_of("x", 1), compute)
    assert (hit_a, hit_b) == (False, True) and len(calls) == 1
    assert a.dtype == b.dtype and np.array_equal(a, b) and np.array_equal(b, compute())
    assert key_of("x", 1) != key_of("x", 2)
    assert key_of({"a": 1, "b": 2}) == key_of({"b": 2, "a": 1})  # order of params does not matter


def test_killed_write_leaves_no_valid_looking_entry(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from covers.cache import atomic_write_bytes
        def slow(f):
            f.write(b"x" * 1000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write_bytes(Path({str(tmp_path)!r}) / "features" / "k.npy", slow)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    final = tmp_path / "features" / "k.npy"
    assert not final.exists()
    assert list((tmp_path / "features").glob("k.npy.tmp-*"))  # the debris is there, under a name never read
    arr, hit = ArrayCache(tmp_path).get_or_compute("features", "k", lambda: np.arange(3.0))
    assert not hit and np.array_equal(arr, np.arange(3.0)) and np.array_equal(np.load(final), arr)


@pytest.mark.slow
def test_sweep_groups_runs_under_a_parent_and_resumes(tmp_path, planted_dir):
    out = sweep(tmp_path, planted_dir, "norm=zscore,l2")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("covers")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("covers.kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(r.data.params["override.norm"] for r in kids) == ["l2", "zscore"]
    arts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"comparison.csv", "comparison.md", "sweep_user_auc.png"} <= arts
    assert "sweep parent run" in out

    # started again with one more job: the finished two are skipped, only the new one runs
    out2 = sweep(tmp_path, planted_dir, "norm=zscore,l2,none", sweep_dir="sweep2")
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep2").glob("*/result.json"))]
    assert [r["status"] for r in results] == ["SKIPPED", "SKIPPED", "FINISHED"]
    assert {r["run_id"] for r in results[:2]} == {r.info.run_id for r in kids}
    assert "2 job(s) skipped" in out2
    # resume=false forces a rerun
    sweep(tmp_path, planted_dir, "norm=zscore", "resume=false", sweep_dir="sweep3")
    r3 = json.loads((tmp_path / "sweep3" / "0" / "result.json").read_text())
    assert r3["status"] == "FINISHED" and r3["run_id"] not in {r.info.run_id for r in kids}


def test_cache_command_reports_and_clears(tmp_path):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "a.npy").write_bytes(b"0" * 2048)
    (tmp_path / "index").mkdir()
    env = {**os.environ}
    info = subprocess.run([sys.executable, "-m", "covers", "cache", "info", "--cache-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert "features" in info.stdout and "1 entries" in info.stdout
    subprocess.run([sys.executable, "-m", "covers", "cache", "clear", "--cache-dir", str(tmp_path), "--kind", "features"],
                   cwd=ROOT, check=True, capture_output=True, timeout=60)
    assert not (tmp_path / "features").exists() and (tmp_path / "index").exists()
