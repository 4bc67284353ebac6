"""``hydra/launcher=covers_ray``: a sweep's jobs as Ray tasks (see covers/app/ray_launcher.py for why
this is not Hydra's own Ray launcher). Used through the ``cluster=ray`` preset."""
# no `from __future__ import annotations`: Hydra execs plugin modules outside sys.modules, where
# dataclasses cannot resolve string annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class RayConf:
    # ray.init() arguments; address null = $RAY_ADDRESS if set, else a Ray started for the sweep
    init: Dict[str, Any] = field(default_factory=lambda: {"address": None})
    # ray.remote() options for every job (num_cpus, memory, max_retries, resources, ...)
    remote: Dict[str, Any] = field(default_factory=dict)


@dataclass
class CoversRayLauncherConf:
    _target_: str = "hydra_plugins.covers_ray_launcher.ray_launcher.CoversRayLauncher"
    ray: RayConf = field(default_factory=RayConf)
    # before the jobs: a multi-node cluster needs a tracking server and folders every node sees
    check_cluster: bool = True


ConfigStore.instance().store(group="hydra/launcher", name="covers_ray", node=CoversRayLauncherConf,
                             provider="covers")


class CoversRayLauncher(Launcher):
    def __init__(self, ray: DictConfig, check_cluster: bool = True) -> None:
        self.ray = ray
        self.check_cluster = check_cluster
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.task_function: Optional[TaskFunction] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from covers.app import ray_launcher as launch_ray

        return launch_ray.launch(self, job_overrides, initial_job_idx)
