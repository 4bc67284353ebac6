"""What in a run's config determines its result: the one rule behind the config hash (resume),
run names, the ``override.*`` params and the sweep charts.

A key is *not* part of the result when it is

* in a section that says where things go or how jobs run (:data:`NON_RESULT_SECTIONS`:
  ``tracking``, ``paths``, ``n_jobs``, ``engine``, ``resume``, ``isolate``, ``objective``,
  ``hydra``), or a preset that only sets those (``cluster``); or
* a speed parameter of the part it configures: a name in its ``_target_`` class's
  ``speed_param_names()`` (:class:`covers.utils.Part`; an index's are every parameter that is
  neither a build nor a query parameter).

The same rule gives the parts' cache keys (:meth:`~covers.utils.Part.result_params`), so a
sweep over ``n_jobs`` or a batch size is one result, computed once.
"""
from __future__ import annotations

from typing import Any

from covers.cache import key_of

#: config sections that say where things go or how a sweep behaves, not what is computed
NON_RESULT_SECTIONS = ("tracking", "paths", "n_jobs", "engine", "resume", "isolate", "objective", "hydra")
#: presets (config groups with ``# @package _global_``) that only set non-result sections
NON_RESULT_PRESETS = ("cluster",)


def _speed_params(target: Any) -> tuple[str, ...]:
    if not isinstance(target, str):
        return ()
    try:
        from hydra.utils import get_class

        cls = get_class(target)
    except Exception:  # noqa: BLE001 - a bad _target_ fails the run itself, with its own message
        return ()
    names = getattr(cls, "speed_param_names", None)  # our parts; scikit-learn's have no speed parameters
    return tuple(names()) if callable(names) else ()


def _drop_speed(node: Any) -> Any:
    if isinstance(node, dict):
        speed = _speed_params(node.get("_target_"))
        return {k: _drop_speed(v) for k, v in node.items() if k not in speed}
    if isinstance(node, list):
        return [_drop_speed(v) for v in node]
    return node


def result_config(config: dict) -> dict:
    """The resolved config without anything that does not change the result."""
    return {k: _drop_speed(v) for k, v in config.items() if k not in NON_RESULT_SECTIONS}


def config_hash(config: dict) -> str:
    """Hash of everything that determines a job's result (not where it is stored, nor how fast)."""
    return key_of(result_config(config))


def is_result_key(key: str, config: dict | None = None) -> bool:
    """Does an override's key (``features.size``, ``norm``, ``index.query_jobs``, ``+dataset.x``)
    change the result? With the resolved ``config``, speed parameters of the part are recognised."""
    key = key.lstrip("+~")
    head, _, rest = key.partition(".")
    if head.split("/")[0] in NON_RESULT_SECTIONS or head in NON_RESULT_PRESETS:
        return False
    if config is None or not rest:
        return True
    node: Any = config
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(node, dict) or p not in node:
            return True
        node = node[p]
    return not (isinstance(node, dict) and parts[-1] in _speed_params(node.get("_target_")))


def result_overrides(overrides: list[str], config: dict | None = None) -> list[str]:
    """The command-line overrides that change the result, in their order."""
    return [o for o in overrides if is_result_key(o.partition("=")[0], config)]
