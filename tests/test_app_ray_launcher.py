"""covers.app.ray_launcher, the Ray launcher (cluster=ray): on a Ray started for the sweep, and on a real two-node Ray
cluster on this machine, with the checks a shared cluster needs before any job starts."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest

from conftest import KEY_METRICS, free_port, job_runs, need, run_sweep, wait_http

ray = need("ray", "ray")

from covers.app.ray_launcher import missing_paths, store_problem  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))


def test_a_file_store_is_refused_only_where_other_nodes_would_need_it():
    assert store_problem("sqlite:////home/me/mlflow.db", 1, client_mode=False) is None
    assert store_problem("http://mlflow:5000", 8, client_mode=False) is None
    assert store_problem("postgresql+psycopg2://u@db/mlflow", 8, client_mode=True) is None
    msg = store_problem("sqlite:////home/me/mlflow.db", 3, client_mode=False)
    assert "Ray cluster of 3 nodes" in msg and "tracking.uri" in msg and "sqlite:////home/me/mlflow.db" in msg
    assert "remote Ray cluster (ray://)" in store_problem("/home/me/mlruns", 1, client_mode=True)
    assert "file:///home/me/mlruns is a file on this machine, which a Ray cluster of 2 nodes cannot share" in \
        store_problem("file:///home/me/mlruns", 2, client_mode=False)


def test_missing_paths_names_exactly_what_a_node_cannot_see(tmp_path):
    (tmp_path / "here").write_text("x")
    assert missing_paths([str(tmp_path / "here"), str(tmp_path / "gone")]) == [str(tmp_path / "gone")]


@pytest.fixture
def ray_env():
    """Environment for Ray processes: token auth (Ray 2.59+ turns it on for local clusters) with a
    token of our own, so Ray does not write one to ~/.ray; no usage stats; and a short temp dir: Ray's AF_UNIX socket paths must stay
    under 107 bytes, which pytest's tmp_path is too deep for, so a private dir removed at the end."""
    tmp = tempfile.mkdtemp(prefix="covers-ray-")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0",
           # a node stopping with SIGTERM first drains for up to 30 s, which buys nothing here
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "2"}
    env.pop("RAY_ADDRESS", None)
    try:
        yield env, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _start_node(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = open(log, "w")
    proc = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--num-cpus=1",
                             "--object-store-memory=100000000", *args],
                            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    end = time.time() + 120
    while "Ray runtime started" not in log.read_text():
        if proc.poll() is not None or time.time() > end:
            raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:  # `ray start --block` stops the node's processes on SIGTERM
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def two_node_cluster(ray_env, tmp_path):
    """A real Ray cluster of two nodes (a head and a worker, one CPU each) on this machine."""
    env, tmp = ray_env
    port = free_port()
    head = _start_node(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                        f"--temp-dir={tmp}"], env, tmp_path / "ray-head.log")
    nodes = [head]
    try:
        # its own session folder: two nodes' log monitors on one folder would forward lines twice
        nodes.append(_start_node([f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1",
                                  f"--temp-dir={tmp}/w"], env, tmp_path / "ray-worker.log"))
        probe = "import ray; ray.init(); print(sum(n['Alive'] for n in ray.nodes()))"
        env = {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
        end = time.time() + 60
        while subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                             timeout=120).stdout.strip() != "2":
            assert time.time() < end, "the worker node never joined"
            time.sleep(1)
        yield env
    finally:
        for proc in reversed(nodes):
            _stop(proc)


@pytest.mark.slow
def test_ray_started_for_the_sweep_records_raised_and_lost_jobs(tmp_path, planted_dir, ray_env):
    env, tmp = ray_env
    # isolate=false: the sigkill fault then kills the Ray worker itself, the case only the
    # launcher can record (with isolation the work's own process dies and the job records it)
    p, results = run_sweep(tmp_path, "cluster=ray", "hydra.launcher.ray.init.num_cpus=2",
                           f"+hydra.launcher.ray.init._temp_dir={tmp}", "hydra.launcher.ray.remote.max_retries=0",
                           "features._target_=covers.app.faults.FaultyFeatures", "+features.fault=none,raise,sigkill",
                           "isolate=false", data_dir=planted_dir, env=env)
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-3000:]
    assert [r["status"] for r in results] == ["FINISHED", "FAILED", "KILLED"]
    assert "WorkerCrashedError" in results[2]["error"] and "+features.fault=sigkill" in results[2]["name"]
    assert "injected failure" in results[1]["error"]
    runs, parents = job_runs(f"sqlite:///{tmp_path}/mlflow.db")
    by_fault = {r.data.params["override.features.fault"]: r for r in runs}
    assert {k: r.info.status for k, r in by_fault.items()} == {"none": "FINISHED", "raise": "FAILED", "sigkill": "KILLED"}
    assert "WorkerCrashedError" in by_fault["sigkill"].data.tags["covers.error"]  # the launcher ended the orphan run
    assert all(k in by_fault["none"].data.metrics for k in KEY_METRICS)
    assert parents[0].data.tags["covers.n_failed"] == "2"
    assert "KILLED" in p.stdout and "the job's Ray task was lost" in p.stdout


@pytest.fixture
def sqlite_mlflow_server(tmp_path):
    port = free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                             f"sqlite:///{tmp_path}/server.db", "--artifacts-destination", str(tmp_path / "artifacts"),
                             "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)
        log.close()


@pytest.mark.slow
def test_two_node_ray_cluster_runs_the_sweep_and_refuses_a_file_store(tmp_path, planted_dir, two_node_cluster,
                                                                      sqlite_mlflow_server):
    env = two_node_cluster
    # a SQLite file cannot serve two nodes: stopped before any job, saying what to set
    p, results = run_sweep(tmp_path, "cluster=ray", "norm=zscore,l2", data_dir=planted_dir, sweep="refused", env=env)
    assert p.returncode != 0 and results == []
    assert "Ray cluster of 2 nodes" in p.stderr and "tracking.uri" in p.stderr, p.stderr[-3000:]
    runs, parents = job_runs(f"sqlite:///{tmp_path}/mlflow.db")
    assert runs == [] and [r.info.status for r in parents] == ["FAILED"]  # the sweep's parent run is not left RUNNING
    assert "Ray cluster of 2 nodes" in parents[0].data.tags["covers.error"]

    uri = sqlite_mlflow_server
    p, results = run_sweep(tmp_path, "cluster=ray", "norm=zscore,l2", "index.n_trees=1,2", data_dir=planted_dir,
                           uri=uri, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert [r["status"] for r in results] == ["FINISHED"] * 4
    lines = [x for x in p.stdout.splitlines() if x.startswith("[covers] ray: job #")]
    assert len(lines) == 4 and all(": FINISHED user_auc=" in x for x in lines), p.stdout[-3000:]
    assert len({x.split(" on node ")[1].split(":")[0] for x in lines}) == 2  # both nodes ran jobs
    runs, parents = job_runs(uri)
    assert len(runs) == 4 and len(parents) == 1
    client = mlflow.MlflowClient(uri)
    for r in runs:
        assert r.info.status == "FINISHED" and all(k in r.data.metrics for k in KEY_METRICS)
        assert r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert {"results.csv", "scores.parquet", "config.yaml"} <= {a.path for a in client.list_artifacts(r.info.run_id)}
    assert not list((tmp_path / "cache").rglob(".covers-ray-probe-*"))  # the node probe cleaned up
