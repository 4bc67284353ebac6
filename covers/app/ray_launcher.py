"""A sweep's jobs as Ray tasks: on a Ray started for the sweep, or on an existing Ray cluster.

Hydra's own Ray launcher (hydra-ray-launcher 1.2.2, its last release) runs fine on current Ray,
but it cannot be installed next to this project: it pins ``cloudpickle<3``, which Dask's
distributed scheduler (our ``engine=dask``, ``cloudpickle>=3``) refuses, and it pulls
``ray[default]`` and boto3 for its AWS autoscaler. So the ``covers_ray`` launcher does the same
thing with Ray directly — one ``ray.remote`` task per job, running Hydra's ``run_job`` — plus
what a sweep on a shared cluster needs and the Hydra plugin does not do:

* before any job starts, on a cluster whose nodes are not all this process's machine, it checks
  that the tracking store is a server and that every node sees the sweep and cache folders
  (a probe task pinned to each node), and stops with one message listing what is wrong;
* a job whose Ray task is lost (worker killed, node gone, after Ray's own retries) is recorded
  as KILLED in its ``result.json`` with Ray's reason, and the rest of the sweep still reports;
* each job reserves ``n_jobs`` CPUs from Ray, so jobs are packed by what they really use.

Ray is imported only when the launcher runs (``pip install -e .[ray]``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

LOCAL_STORES = ("sqlite:", "file:")


def _import_ray():
    try:
        import ray
    except ImportError as exc:  # the preset is usable only with the extra installed
        raise ImportError("cluster=ray needs Ray: pip install -e .[ray] (or pip install 'ray>=2.30,<3')") from exc
    return ray


def store_problem(tracking_uri: str, n_nodes: int, client_mode: bool) -> str | None:
    """Why a tracking store cannot serve this cluster, or None. A SQLite file or ``file:`` store
    lives on this machine; jobs on other nodes would write to their own copies or fail."""
    local = tracking_uri.startswith(LOCAL_STORES) or "://" not in tracking_uri
    if local and (n_nodes > 1 or client_mode):
        where = f"a Ray cluster of {n_nodes} nodes" if n_nodes > 1 else "a remote Ray cluster (ray://)"
        return (f"the tracking store {tracking_uri} is a file on this machine, which {where} cannot share: "
                "set tracking.uri to the team's MLflow server (e.g. tracking.uri=http://mlflow.internal:5000)")
    return None


def missing_paths(paths: Sequence[str]) -> list[str]:
    """Run on each node: which of ``paths`` (probe files the driver just wrote) this node cannot see."""
    return [p for p in paths if not os.path.exists(p)]


def _probe_nodes(ray, nodes: list[dict], folders: dict[str, Path]) -> list[str]:
    """One task pinned to every alive node checks it sees a file the driver wrote in each folder."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = f".covers-ray-probe-{uuid.uuid4().hex}"
    probes = {}
    for what, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / token).write_text("probe")
        probes[str(folder / token)] = f"{what} {folder}"
    problems = []
    try:
        probe = ray.remote(num_cpus=0, max_retries=0)(missing_paths)
        refs = {n["NodeManagerAddress"] + " " + n["NodeID"][:8]: probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(list(probes))
            for n in nodes}
        for node, ref in refs.items():
            try:
                missing = ray.get(ref, timeout=120)
            except Exception as exc:  # noqa: BLE001 - e.g. covers not installed there
                problems.append(f"node {node} could not run a covers task: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''} (is covers installed on it?)")
                continue
            problems += [f"node {node} cannot see {probes[p]} (a folder every node must mount)" for p in missing]
    finally:
        for p in probes:
            Path(p).unlink(missing_ok=True)
    return problems


def check_cluster(ray, config: DictConfig, address: str | None) -> None:
    """Stop before any job if the cluster cannot share the sweep's store and folders."""
    from covers.tracking import write as tracking

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    client_mode = str(address or os.environ.get("RAY_ADDRESS", "")).startswith("ray://")
    problems = []
    p = store_problem(tracking.resolve_uri(config.tracking.uri), len(nodes), client_mode)
    if p:
        problems.append(p)
    if len(nodes) > 1 or client_mode:
        problems += _probe_nodes(ray, nodes, {"the sweep folder (hydra.sweep.dir)": Path(config.hydra.sweep.dir),
                                              "the cache (paths.cache_dir)": Path(config.paths.cache_dir)})
    if problems:
        raise RuntimeError("this Ray cluster cannot run the sweep as configured:\n  - " + "\n  - ".join(problems)
                           + "\n(hydra.launcher.check_cluster=false skips these checks)")
    log.info("Ray cluster: %d node(s), %s CPUs", len(nodes), sum(n["Resources"].get("CPU", 0) for n in nodes))


def _run_job(hydra_context, sweep_config: DictConfig, task_function, singleton_state: dict) -> tuple[JobReturn, str]:
    """What each Ray task does: Hydra's own job runner, with the driver's Hydra state."""
    import ray

    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(sweep_config)
    ret = run_job(hydra_context=hydra_context, task_function=task_function, config=sweep_config,
                  job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    return ret, ray.get_runtime_context().get_node_id()


def _report(idx: int, node: str, job_dir: Path) -> None:
    """The driver's own line per finished job. Ray forwards the job's output too, but as it
    arrives: lines still in flight when the sweep ends are lost, and similar ones are folded."""
    path = job_dir / "result.json"
    r = json.loads(path.read_text()) if path.exists() else {}
    m = r.get("metrics", {})
    what = (f"user_auc={m['user_auc']:.4f} thumbs_auc={m.get('thumbs_auc', math.nan):.4f}" if "user_auc" in m
            else r.get("error", ""))
    print(f"[covers] ray: job #{idx} on node {node[:8]}: {r.get('status', 'no result.json')} {what}".rstrip(),
          flush=True)


def _lost_job(exc: Exception, status: str, overrides: Sequence[str], job_dir: Path, uri: str) -> JobReturn:
    """A job whose Ray task failed outside the job's own error handling (its worker killed, its
    node lost): recorded as ``status`` in its result.json and, if it had started its MLflow run,
    that run ended with the same status and Ray's reason. Hydra gets a completed job returning NaN, so the
    sweep summary lists it and exits non-zero instead of the multirun aborting on it."""
    from covers.app import task as app
    from covers.tracking import write as tracking

    reason = str(exc).strip().splitlines()
    error = f"{type(exc).__name__}: {reason[0] if reason else ''} (the job's Ray task was lost)"
    path = job_dir / "result.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    if summary.get("status") in (None, "RUNNING"):  # the job did not get to record its end
        if summary.get("run_id"):
            try:
                tracking.end_lost(summary.get("tracking_uri") or uri, summary["run_id"], error, status=status)
            except Exception as e:  # noqa: BLE001 - the result file below still records it
                log.warning("could not end run %s as %s: %s", summary["run_id"], status, e)
        summary = {"name": app.run_name(list(overrides)), "overrides": list(overrides), "tracking_uri": uri,
                   "seconds": None, **summary, "status": status, "error": error}
        job_dir.mkdir(parents=True, exist_ok=True)
        app.write_result(job_dir, summary)
        print(f"[covers] {summary['name']}: {status} - {error}")
    ret = JobReturn(overrides=list(overrides), working_dir=str(job_dir), status=JobStatus.COMPLETED)
    ret.return_value = math.nan
    return ret


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
    from covers.tracking import write as tracking

    ray = _import_ray()
    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    uri = tracking.resolve_uri(config.tracking.uri)

    # nulls mean "Ray's default"; Ray refuses resource settings when joining an existing cluster
    init = {k: v for k, v in OmegaConf.to_container(launcher.ray.init, resolve=True).items() if v is not None}
    remote = {k: v for k, v in OmegaConf.to_container(launcher.ray.remote, resolve=True).items() if v is not None}
    started_here = not ray.is_initialized()
    pending: list[tuple[int, Sequence[str], Path, Any]] = []
    try:
        if started_here:
            ray.init(**init)
        if launcher.check_cluster:
            check_cluster(ray, config, init.get("address"))
        task = ray.remote(**remote)(_run_job) if remote else ray.remote(_run_job)
        # the same for every job: stored once in Ray's object store, not shipped with each task
        shared = [ray.put(x) for x in (launcher.hydra_context, launcher.task_function, Singleton.get_state())]
        log.info("Ray launcher: %d jobs, sweep folder %s", len(job_overrides), sweep_dir)
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            sweep_config = launcher.hydra_context.config_loader.load_sweep_config(config, list(overrides))
            with open_dict(sweep_config):
                # the scheduler's id is only known remotely; the number decides the job's folder
                sweep_config.hydra.job.id = f"ray_job_{idx}"
                sweep_config.hydra.job.num = idx
            job_dir = Path(sweep_config.hydra.sweep.dir) / str(sweep_config.hydra.sweep.subdir)
            ref = task.options(name=f"covers-job-{idx}").remote(shared[0], sweep_config, shared[1], shared[2])
            pending.append((idx, overrides, job_dir, ref))
        returns = []
        for idx, overrides, job_dir, ref in pending:
            try:
                ret, node = ray.get(ref)
                _report(idx, node, job_dir)
            except ray.exceptions.RayTaskError as exc:  # raised outside the job's own handling
                ret = _lost_job(exc, "FAILED", overrides, job_dir, uri)
            except ray.exceptions.RayError as exc:  # worker killed, node lost, out of memory
                ret = _lost_job(exc, "KILLED", overrides, job_dir, uri)
            returns.append(ret)
        return returns
    except BaseException as exc:
        # stopped before or while the jobs ran (a refused cluster, Ctrl-C): tasks already on a
        # cluster would run on unwatched, and the sweep's parent run would stay RUNNING
        for *_, ref in pending:
            ray.cancel(ref, force=True)
        _end_parent(uri, sweep_dir, exc)
        raise
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()


def _end_parent(uri: str, sweep_dir: Path, exc: BaseException) -> None:
    from covers.app import task as app
    from covers.tracking import write as tracking

    parent = sweep_dir / app.PARENT_FILE
    if parent.exists():
        try:
            tracking.end_lost(uri, parent.read_text().strip(), f"{type(exc).__name__}: {exc}",
                              status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        except Exception as e:  # noqa: BLE001 - the original error matters more
            log.warning("could not end the sweep's parent run: %s", e)
