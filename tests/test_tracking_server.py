"""Tracking to a team's server for real (covers.tracking against ``mlflow server``): PostgreSQL backend
store + served artifacts, a parallel sweep against it, every run and artifact arriving. CI installs
PostgreSQL (.ci/run)."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from glob import glob
from pathlib import Path

import mlflow
import pytest

from conftest import free_port, job_runs, run_sweep, wait_http


def pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture
def postgres():
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run should have installed it")
        pytest.skip("PostgreSQL (initdb, pg_ctl) not installed")
    # PostgreSQL refuses to run as root and needs every parent directory traversable by its
    # user, which pytest's 0700 tmp_path is not: a private temp dir, removed at the end.
    base = Path(tempfile.mkdtemp(prefix="covers-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    try:
        subprocess.run(as_user + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(as_user + [pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U",
                                  "postgres", "mlflow"], check=True, capture_output=True, timeout=60)
        # the driver named explicitly: SQLAlchemy's default for postgresql:// is psycopg 3
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mlflow_server(postgres, tmp_path):
    port = free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres,
         "--artifacts-destination", str(tmp_path / "artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_parallel_sweep_against_a_postgres_backed_server(mlflow_server, tmp_path, planted_dir):
    p, results = run_sweep(tmp_path, "cluster=local_parallel", "hydra.launcher.n_jobs=3", "norm=zscore,l2,none",
                           data_dir=planted_dir, uri=mlflow_server)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:] + (tmp_path / "mlflow-server.log").read_text()[-3000:]
    assert [r["status"] for r in results] == ["FINISHED"] * 3
    runs, parents = job_runs(mlflow_server)
    assert len(runs) == 3 and len(parents) == 1
    client = mlflow.MlflowClient(mlflow_server)
    for r in runs:
        assert r.info.status == "FINISHED" and "user_auc" in r.data.metrics
        assert r.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server, not a local path
        arts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"similar_covers.png", "auc.png", "roc.png", "scores.parquet", "config.yaml"} <= arts
        png = client.download_artifacts(r.info.run_id, "similar_covers.png", str(tmp_path / r.info.run_id))
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the artifacts really live in the server's artifact root
    assert list((tmp_path / "artifacts").rglob("similar_covers.png"))
