"""The Hydra task: instantiate the parts named by the config, run, track.

Kept out of ``run.py`` so tests (and ``covers reproduce``) can call it with a config.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from covers import pipeline
from covers.app import isolation
from covers.config import config_hash, result_overrides
from covers.utils import PROJECT_ROOT, JobKilled, resolve_n_jobs
from covers.tracking import write as tracking

log = logging.getLogger("covers")

if not OmegaConf.has_resolver("covers_root"):
    # the project folder, so default stores and caches are absolute paths under it
    OmegaConf.register_new_resolver("covers_root", lambda: str(PROJECT_ROOT))


def _required(what: str) -> str:
    raise ValueError(f"this configuration needs {what} (set it on the command line)")


if not OmegaConf.has_resolver("covers_required"):
    # '???' cannot make a preset demand a value the base config already set (a merge keeps the
    # old value), so presets use ${covers_required:...}, which fails with this message when read
    OmegaConf.register_new_resolver("covers_required", _required)

PARENT_FILE = "mlflow_parent_run_id"


def build_parts(cfg: DictConfig) -> pipeline.Parts:
    """Instantiate one part per config group, from its ``_target_`` (never recognised by name)."""
    from covers.features.engines.local import LocalEngine

    return pipeline.Parts(
        dataset=instantiate(cfg.dataset),
        features=instantiate(cfg.features, _convert_="all"),
        norm=instantiate(cfg.norm, _convert_="all"),
        index=instantiate(cfg.index),
        split=instantiate(cfg.split),
        scorer=instantiate(cfg.scorer),
        baselines={name: instantiate(b, _convert_="all") for name, b in (cfg.baselines or {}).items()},
        engine=instantiate(cfg.engine) if cfg.get("engine") is not None else LocalEngine(n_jobs=cfg.n_jobs),
    )


def settings_of(cfg: DictConfig) -> pipeline.Settings:
    return pipeline.Settings(cache_dir=cfg.paths.cache_dir, seed=cfg.seed, **OmegaConf.to_container(cfg.eval, resolve=True))


def work(config: dict, out_dir: str) -> tuple[dict, dict, list]:
    """Everything a job computes, from its resolved config; no MLflow (it may run in a child process)."""
    from threadpoolctl import threadpool_limits

    cfg = OmegaConf.create(config)
    parts = build_parts(cfg)  # a bad config fails here, inside the job's run
    # BLAS/OpenMP pools of at most n_jobs threads: parallel sweep jobs (n_jobs=1 each) do not
    # oversubscribe the cores with one pool per job per library
    with threadpool_limits(resolve_n_jobs(cfg.n_jobs)):
        result = pipeline.run(parts, settings_of(cfg), out_dir)
    return result.metrics, result.info, result.artifacts


def _short(override: str) -> str:
    """``dataset.path=/long/path/to/covers`` -> ``dataset.path=covers`` for run names (params keep it whole)."""
    key, sep, val = override.partition("=")
    if sep and "/" in val and "," not in val:
        val = val.rstrip("/").rsplit("/", 1)[-1] or val
    return f"{key}{sep}{val}"


def run_name(overrides: list[str], config: dict | None = None) -> str:
    """A run's name: the overrides that change the result (:mod:`covers.config`), path values cut
    to their last part."""
    return ",".join(_short(o) for o in result_overrides(overrides, config)) or "defaults"


def _job_context() -> tuple[str | None, list[str], Path | None, bool, Path | None]:
    """(run name, overrides, output dir, is multirun, sweep dir) from Hydra, or defaults outside it."""
    try:
        hc = HydraConfig.get()
    except ValueError:
        return "run", [], None, False, None
    overrides = list(hc.overrides.task)
    multirun = hc.mode == RunMode.MULTIRUN
    return None, overrides, Path(hc.runtime.output_dir), multirun, Path(hc.sweep.dir) if multirun else None


def run_job(cfg: DictConfig, out_dir: str | Path | None = None, *, name: str | None = None,
            overrides: list[str] | None = None, extra_tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one configured job; returns its summary (also written to ``result.json`` in the job dir).

    Under Hydra the job dir is Hydra's output dir; outside it (tests, notebooks, reproduce)
    pass ``out_dir``. In a sweep with ``resume=true``, a job whose config hash already has a
    FINISHED run at the same code version is skipped and reported with that run's metrics.
    """
    h_name, h_overrides, hydra_dir, multirun, sweep_dir = _job_context()
    overrides = h_overrides if overrides is None else overrides
    if out_dir is None and hydra_dir is None:
        raise ValueError("run_job outside Hydra needs an out_dir")
    out_dir = Path(out_dir if out_dir is not None else hydra_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    uri = tracking.resolve_uri(cfg.tracking.uri)
    config = OmegaConf.to_container(cfg, resolve=True)
    name = name or h_name or run_name(overrides, config)
    chash = config_hash(config)
    summary: dict[str, Any] = {"name": name, "overrides": overrides, "status": "FAILED", "tracking_uri": uri,
                               "config_hash": chash}
    parent = _read_parent(sweep_dir)
    t0 = time.perf_counter()
    try:
        done = tracking.find_finished(uri, cfg.tracking.experiment, chash) if multirun and cfg.get("resume") else None
        if done is not None and (stale := _stale(done, cfg)):
            log.warning("job %s: not skipping finished run %s: %s", name, done.info.run_id, stale)
            print(f"[covers] {name}: rerunning, not resuming run {done.info.run_id}: {stale}", flush=True)
            summary["resume_refused"] = stale
            done = None
        if done is not None:
            summary.update(status="SKIPPED", run_id=done.info.run_id, metrics=dict(done.data.metrics),
                           info={"skipped_because": f"finished before in run {done.info.run_id}"})
            return summary
        tags = {"covers.config_hash": chash, **(extra_tags or {})}
        with tracking.tracked_run(uri, cfg.tracking.experiment, name, config, overrides, tags=tags,
                                  parent_run_id=parent) as run:
            summary["run_id"] = run.info.run_id
            # a RUNNING result names the run, so a launcher that loses this process can end it
            write_result(out_dir, {**summary, "status": "RUNNING"})
            if cfg.get("isolate", False):  # the work in a child process: a SIGKILL there can't end the sweep
                metrics, info, artifacts = isolation.run_isolated(work, config, str(out_dir))
            else:
                metrics, info, artifacts = work(config, str(out_dir))
            tracking.log_result(metrics, info, artifacts)
        summary.update(status="FINISHED", metrics=metrics, info=info)
    except Exception as exc:  # noqa: BLE001 - recorded, then re-raised or kept for the sweep summary
        summary["status"] = "KILLED" if isinstance(exc, JobKilled) else "FAILED"
        summary["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        log.exception("job %s failed", name)
        if not multirun:
            raise
    except KeyboardInterrupt:  # Ctrl-C: the run was stopped, as tracked_run records it
        summary.update(status="KILLED", error="KeyboardInterrupt: stopped by the user")
        raise
    finally:
        summary["seconds"] = time.perf_counter() - t0
        write_result(out_dir, summary)
        _print_run(summary)
    return summary


def _stale(done, cfg: DictConfig) -> str | None:
    """Why a FINISHED run with the same config and commit is no longer this job's result, or None.

    The config hash and the commit do not pin the data: a folder dataset edited in place (rows
    removed, covers replaced) keeps both, so the run's recorded dataset fingerprint is compared with
    the dataset's as it is now (digests are cached, so this costs a stat per file, not a read)."""
    old = done.data.tags.get("covers.dataset_fingerprint")
    now = instantiate(cfg.dataset).load(cfg.paths.cache_dir).fingerprint
    if old != now:
        return f"the dataset changed since (fingerprint {str(old)[:12]} then, {now[:12]} now)"
    return None


def write_result(out_dir: Path, summary: dict) -> None:
    """``result.json``, replaced atomically: the sweep summary may read it while a job writes it."""
    tmp = out_dir / "result.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1, default=str))
    tmp.replace(out_dir / "result.json")


def _read_parent(sweep_dir: Path | None) -> str | None:
    if sweep_dir is None:
        return None
    p = sweep_dir / PARENT_FILE
    return p.read_text().strip() if p.exists() else None


def _print_run(s: dict) -> None:
    if s["status"] in ("FAILED", "KILLED"):
        print(f"[covers] {s['name']}: {s['status']} - {s.get('error')}")
        return
    m = s["metrics"]
    what = "skipped, already finished in" if s["status"] == "SKIPPED" else "run"
    print(f"[covers] {s['name']}: user_auc={m.get('user_auc', float('nan')):.4f} "
          f"thumbs_auc={m.get('thumbs_auc', float('nan')):.4f} coverage={m.get('coverage', float('nan')):.3f} "
          f"(random {m.get('thumbs_auc_random', float('nan')):.4f}, "
          f"popularity {m.get('thumbs_auc_popularity', float('nan')):.4f}) in {s['seconds']:.1f}s; "
          f"{what} {s.get('run_id')}")
