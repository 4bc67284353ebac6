"""The Hydra task: instantiate the parts named by the config, run, track.

Kept out of ``run.py`` so tests can call it with a composed config.
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

from covers import pipeline, tracking

log = logging.getLogger("covers")

if not OmegaConf.has_resolver("covers_root"):
    # the project folder, so default stores and caches are absolute paths under it
    OmegaConf.register_new_resolver("covers_root", lambda: str(tracking.PROJECT_ROOT))

#: config sections that say where things go, not what is computed
NON_RESULT_KEYS = ("tracking", "paths", "n_jobs")


def build_parts(cfg: DictConfig) -> pipeline.Parts:
    return pipeline.Parts(
        dataset=instantiate(cfg.dataset),
        features=instantiate(cfg.features, _convert_="all"),
        norm=instantiate(cfg.norm, _convert_="all"),
        index=instantiate(cfg.index),
        split=instantiate(cfg.split),
        scorer=instantiate(cfg.scorer),
        baselines={name: instantiate(b) for name, b in (cfg.baselines or {}).items()},
    )


def settings_of(cfg: DictConfig) -> pipeline.Settings:
    return pipeline.Settings(cache_dir=cfg.paths.cache_dir, n_jobs=cfg.n_jobs, seed=cfg.seed,
                             **OmegaConf.to_container(cfg.eval, resolve=True))


def config_hash(cfg: DictConfig) -> str:
    from covers.cache import key_of

    c = OmegaConf.to_container(cfg, resolve=True)
    return key_of({k: v for k, v in c.items() if k not in NON_RESULT_KEYS and k != "hydra"})


def _job_context() -> tuple[str, list[str], Path | None, bool]:
    """(run name, overrides, output dir, is multirun) from Hydra, or defaults outside Hydra."""
    try:
        hc = HydraConfig.get()
    except ValueError:
        return "run", [], None, False
    overrides = list(hc.overrides.task)
    name = ",".join(o for o in overrides if not o.startswith(("tracking.", "paths.", "hydra"))) or "defaults"
    return name, overrides, Path(hc.runtime.output_dir), hc.mode == RunMode.MULTIRUN


def run_job(cfg: DictConfig, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Run one configured job; returns its summary (also written to ``result.json`` in the job dir).

    Under Hydra the job dir is Hydra's output dir; outside it (tests, notebooks) pass ``out_dir``.
    """
    name, overrides, hydra_dir, multirun = _job_context()
    if out_dir is None:
        if hydra_dir is None:
            raise ValueError("run_job outside Hydra needs an out_dir")
        out_dir = hydra_dir
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    uri = tracking.resolve_uri(cfg.tracking.uri)
    config = OmegaConf.to_container(cfg, resolve=True)
    summary: dict[str, Any] = {"name": name, "overrides": overrides, "status": "FAILED", "tracking_uri": uri}
    t0 = time.perf_counter()
    try:
        with tracking.tracked_run(uri, cfg.tracking.experiment, name, config, overrides,
                                  tags={"covers.config_hash": config_hash(cfg)}) as run:
            summary["run_id"] = run.info.run_id
            parts = build_parts(cfg)  # inside the run: a bad config shows up as a FAILED run with its error
            result = pipeline.run(parts, settings_of(cfg), out_dir)
            tracking.log_result(result.metrics, result.info, result.artifacts)
        summary.update(status="FINISHED", metrics=result.metrics, info=result.info)
    except Exception as exc:  # noqa: BLE001 - reported, recorded, then re-raised or kept for the summary
        summary["error"] = f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", name)
        if not multirun:
            raise
    finally:
        summary["seconds"] = time.perf_counter() - t0
        (out_dir / "result.json").write_text(json.dumps(summary, indent=1, default=str))
    _print_run(summary)
    return summary


def _print_run(s: dict) -> None:
    if s["status"] != "FINISHED":
        print(f"[covers] {s['name']}: FAILED - {s.get('error')}")
        return
    m = s["metrics"]
    print(f"[covers] {s['name']}: user_auc={m['user_auc']:.4f} thumbs_auc={m['thumbs_auc']:.4f} "
          f"coverage={m['coverage']:.3f} (random {m.get('thumbs_auc_random', float('nan')):.4f}, "
          f"popularity {m.get('thumbs_auc_popularity', float('nan')):.4f}) in {s['seconds']:.1f}s; "
          f"run {s.get('run_id')}")
