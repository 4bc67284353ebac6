"""Writing runs to MLflow: one run per job, a parent per sweep. (``covers.tracking`` is the only
package that imports MLflow: this module writes, :mod:`covers.tracking.read` reads,
:mod:`covers.tracking.reproduce` re-runs.)

Store: ``tracking.uri`` from the config if set, else the standard
``MLFLOW_TRACKING_URI`` environment variable, else ``sqlite:///<project>/mlflow.db``
with artifacts under ``<project>/mlartifacts``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import traceback
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from covers.config import is_result_key
from covers.tracking import resolve_uri  # noqa: F401  (re-exported: tracking.resolve_uri)
from covers.utils import PROJECT_ROOT, JobKilled

KEY_PACKAGES = ("covers", "numpy", "scipy", "pillow", "annoy", "voyager", "faiss-cpu", "scikit-learn", "pandas", "mlflow",
                "hydra-core", "pyfftw")


def retrying(fn, *args, attempts: int = 8, **kwargs):
    """Call an MLflow function, retrying with jittered backoff while SQLite says it is locked.

    Parallel jobs on one SQLite file serialise on its write lock; SQLite waits 5 s for it and
    then gives up with "database is locked". That is contention, not an error, so wait and
    try again instead of losing the run.
    """
    import random
    import time

    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only lock contention is retried
            if "database is locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(min(30.0, 0.5 * 2 ** i) * (0.5 + random.random()))


def _artifact_root(uri: str) -> str | None:
    """For a local sqlite store, keep artifacts next to it (absolute path); servers choose their own."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / "mlartifacts").as_uri()
    return None


def ensure_experiment(uri: str, name: str) -> str:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    root = _artifact_root(uri)
    try:
        return client.create_experiment(name, artifact_location=f"{root}/{name}" if root else None)
    except mlflow.exceptions.MlflowException:
        # another process created it between our lookup and create
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = d
    return out


def sanitize_key(k: str) -> str:
    """MLflow keys allow alphanumerics, _ - . space / ; anything else becomes _."""
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in k)


def params_of(config: dict) -> tuple[dict[str, str], list[str]]:
    """Flattened params; values too long for MLflow are cut visibly and listed (the full value is in config.yaml)."""
    params, cut = {}, []
    for k, v in flatten(config).items():
        s = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
        if len(s) > MAX_PARAM_VAL_LENGTH:
            marker = " ...[cut: full value in artifact config.yaml]"
            s = s[: MAX_PARAM_VAL_LENGTH - len(marker)] + marker
            cut.append(k)
        params[sanitize_key(k)] = s
    return params, cut


def git_info() -> dict[str, str]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for p in KEY_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "absent"
    return out


@contextmanager
def tracked_run(uri: str, experiment: str, run_name: str, config: dict, overrides: list[str],
                tags: dict[str, str] | None = None, parent_run_id: str | None = None) -> Iterator[Any]:
    """Start a run, log config/tags, yield it; always end it: FINISHED, or FAILED with the error."""
    exp_id = retrying(ensure_experiment, uri, experiment)
    all_tags = {f"covers.{k}": v for k, v in git_info().items()}
    all_tags.update({f"covers.version.{k}": v for k, v in package_versions().items()})
    all_tags.update(tags or {})
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = retrying(mlflow.start_run, experiment_id=exp_id, run_name=run_name, tags=all_tags)
    try:
        params, cut = params_of(config)
        # the command-line choices (norm=zscore, features.size=32) as params too: they are what
        # a sweep varies, and read better in the UI's columns than the resolved _target_ paths
        for o in overrides:
            key, _, val = o.lstrip("+~").partition("=")
            if is_result_key(key, config):
                params[sanitize_key(f"override.{key}")] = val
        items = list(params.items())
        for i in range(0, len(items), 100):  # MLflow's batch limit
            retrying(mlflow.log_params, dict(items[i:i + 100]))
        if cut:
            retrying(mlflow.set_tag, "covers.params_cut", ",".join(cut))
        mlflow.log_dict(config, "config.yaml")
        mlflow.log_dict({"overrides": overrides}, "overrides.yaml")
        yield run
    except BaseException as exc:
        retrying(mlflow.set_tag, "covers.error", f"{type(exc).__name__}: {exc}"[:5000])
        mlflow.log_text("".join(traceback.format_exception(exc)), "error.txt")
        killed = isinstance(exc, (KeyboardInterrupt, JobKilled))
        retrying(mlflow.end_run, status="KILLED" if killed else "FAILED")
        raise
    else:
        retrying(mlflow.end_run, status="FINISHED")


def log_result(metrics: dict[str, float], info: dict[str, Any], artifacts: list[Path]) -> None:
    finite = {sanitize_key(k): float(v) for k, v in metrics.items() if v is not None}  # NaN is logged as NaN
    items = list(finite.items())
    for i in range(0, len(items), 1000):  # MLflow's batch limit
        retrying(mlflow.log_metrics, dict(items[i:i + 1000]))
    tuned = info.get("tuned") or {}
    if tuned:  # values chosen on validation (eval.tune): params, beside the configured ones
        retrying(mlflow.log_params, {sanitize_key(f"tuned.{k}"): str(v) for k, v in tuned.items()})
    retrying(mlflow.set_tags, {f"covers.{k}": str(v) for k, v in info.items() if k != "tuned"})
    for p in artifacts:
        mlflow.log_artifact(str(p))


def ui_command(uri: str) -> str:
    return f"mlflow ui --backend-store-uri {uri}" if not uri.startswith("http") else f"open {uri}"


def _experiment_id(uri: str, name: str) -> str | None:
    exp = MlflowClient(uri).get_experiment_by_name(name)
    return exp.experiment_id if exp else None


def find_finished(uri: str, experiment: str, config_hash: str):
    """A FINISHED run with this config hash at the current code version, or None."""
    exp_id = _experiment_id(uri, experiment)
    if exp_id is None:
        return None
    commit = git_info()["git_commit"]
    flt = (f"tags.`covers.config_hash` = '{config_hash}' and attributes.status = 'FINISHED' "
           f"and tags.`covers.git_commit` = '{commit}'")
    runs = MlflowClient(uri).search_runs([exp_id], flt, max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def start_parent(uri: str, experiment: str, sweep_dir: Path, overrides: list[str]) -> str:
    """The sweep's parent run: the UI nests each job's run under it."""
    exp_id = ensure_experiment(uri, experiment)
    tags = {f"covers.{k}": v for k, v in git_info().items()}
    tags.update({"covers.sweep_dir": str(sweep_dir), "covers.kind": "sweep"})
    run = MlflowClient(uri).create_run(exp_id, run_name=f"sweep {sweep_dir.name}", tags=tags)
    MlflowClient(uri).log_dict(run.info.run_id, {"overrides": overrides}, "sweep_overrides.yaml")
    return run.info.run_id


def finish_parent(uri: str, parent_id: str, files: list[Path], n_failed: int, metrics: dict[str, float]) -> None:
    client = MlflowClient(uri)
    for p in files:
        client.log_artifact(parent_id, str(p))
    for k, v in metrics.items():
        client.log_metric(parent_id, sanitize_key(k), float(v))
    client.set_tag(parent_id, "covers.n_failed", str(n_failed))
    client.set_terminated(parent_id, "FINISHED" if n_failed == 0 else "FAILED")


def end_lost(uri: str, run_id: str, error: str, status: str = "KILLED") -> None:
    """End a run whose process cannot end it (a job's lost Ray task, a sweep stopped early), with the reason."""
    client = MlflowClient(uri)
    retrying(client.set_tag, run_id, "covers.error", error[:5000])
    retrying(client.set_terminated, run_id, status)


def child_runs(uri: str, parent_id: str):
    client = MlflowClient(uri)
    parent = client.get_run(parent_id)
    return client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'",
                              max_results=10000)
