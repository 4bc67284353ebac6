"""``python -m covers reproduce RUN_ID``: re-run a logged run from what it logged, and compare.

The configuration comes from the run's own ``config.yaml`` artifact (the resolved config,
not today's defaults). Before running, the code version, the package versions and the
dataset's content fingerprint are checked against the run's tags; any mismatch is
reported and stops the rerun unless ``--allow-mismatch``. The new run is tagged
``covers.reproduces=<RUN_ID>``, and every metric is printed old vs new.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from covers.tracking import write as tracking
from covers.tracking.read import is_timing
from covers.utils import PROJECT_ROOT

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # two tiny files; bars are noise


@dataclass
class Outcome:
    run_id: str
    new_run_id: str | None = None
    mismatches: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)  # non-timing metrics that changed
    compared: int = 0


def logged_config(client: MlflowClient, run_id: str) -> tuple[dict, list[str]]:
    with tempfile.TemporaryDirectory() as d:
        cfg_path = client.download_artifacts(run_id, "config.yaml", d)
        config = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=False)
        try:
            ov = OmegaConf.load(client.download_artifacts(run_id, "overrides.yaml", d))
            overrides = list(ov.get("overrides", []))
        except Exception:  # noqa: BLE001 - older runs may lack it; the config alone determines the run
            overrides = []
    return config, overrides


def check_environment(run, config: dict) -> list[str]:
    """Human-readable differences between the run's recorded provenance and now."""
    tags = run.data.tags
    out = []
    now = tracking.git_info()
    if tags.get("covers.git_commit") != now["git_commit"]:
        out.append(f"code version: run used commit {tags.get('covers.git_commit')}, checkout is {now['git_commit']}")
    if tags.get("covers.git_dirty") == "true" or now["git_dirty"] == "true":
        out.append(f"code version: uncommitted changes (run dirty={tags.get('covers.git_dirty')}, "
                   f"now dirty={now['git_dirty']}): the commit alone does not pin the code")
    for pkg, ver in tracking.package_versions().items():
        was = tags.get(f"covers.version.{pkg}")
        if was is not None and was != ver:
            out.append(f"package {pkg}: run used {was}, installed is {ver}")
    fp = tags.get("covers.dataset_fingerprint")
    if fp:
        from hydra.utils import instantiate

        ds = instantiate(config["dataset"]).load(config["paths"]["cache_dir"])
        if ds.fingerprint != fp:
            out.append(f"dataset: content fingerprint was {fp}, is now {ds.fingerprint} ({ds.root})")
    return out


def reproduce_one(uri: str, run_id: str, run_job: Callable[..., dict], allow_mismatch: bool = False,
                  fresh_cache: bool = False, out_root: Path | None = None, echo=print) -> Outcome:
    """Re-run ``run_id`` with ``run_job`` (:func:`covers.app.task.run_job`, passed in so that
    tracking never imports the shell above it) and compare every metric."""
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    config, overrides = logged_config(client, run_id)
    res = Outcome(run_id)
    res.mismatches = check_environment(run, config)
    for m in res.mismatches:
        echo(f"[reproduce] MISMATCH {m}")
    if res.mismatches and not allow_mismatch:
        echo(f"[reproduce] {run_id}: not rerun because of the mismatches above (--allow-mismatch to run anyway)")
        return res
    config["tracking"]["uri"] = uri
    tmp = tempfile.TemporaryDirectory() if fresh_cache else None
    if tmp is not None:  # recompute features and index instead of trusting the cache
        config["paths"]["cache_dir"] = tmp.name
    out_dir = (out_root or PROJECT_ROOT / "outputs" / "reproduce") / run_id
    try:
        summary = run_job(OmegaConf.create(config), out_dir, name=f"reproduce {run.info.run_name}",
                          overrides=overrides, extra_tags={"covers.reproduces": run_id})
    finally:
        if tmp is not None:
            tmp.cleanup()
    res.new_run_id = summary.get("run_id")
    new = {tracking.sanitize_key(k): float(v) for k, v in summary.get("metrics", {}).items()}
    echo(f"[reproduce] {run.info.run_name} ({run_id}) -> new run {res.new_run_id}")
    echo(f"  {'metric':40s} {'old':>22s} {'new':>22s}")
    for k in sorted(run.data.metrics):
        old, now = run.data.metrics[k], new.get(k)
        same = now is not None and (old == now or (old != old and now != now))
        mark = "timing" if is_timing(k) else ("identical" if same else "DIFFERENT")
        if not is_timing(k):
            res.compared += 1
            if not same:
                res.differing.append(k)
        echo(f"  {k:40s} {old!r:>22} {now!r:>22}  {mark}")
    echo(f"[reproduce] {res.compared - len(res.differing)}/{res.compared} result metrics identical bit for bit"
         + (f"; different: {', '.join(res.differing)}" if res.differing else "") + " (timings excluded)")
    return res


def reproduce(uri: str, run_id: str, run_job: Callable[..., dict], **kw) -> list[Outcome]:
    """A job run, or every child of a sweep's parent run."""
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    if run.data.tags.get("covers.kind") == "sweep":
        kids = tracking.child_runs(uri, run_id)
        return [reproduce_one(uri, c.info.run_id, run_job, **kw) for c in kids if c.info.status == "FINISHED"]
    return [reproduce_one(uri, run_id, run_job, **kw)]
