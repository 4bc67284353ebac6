"""Config that means what it says: every key of every choice in conf/ is read by the code, and
the one rule of what is part of a result (covers/config.py) behaves as documented."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from hydra.utils import get_class
from omegaconf import OmegaConf

from covers.config import config_hash, is_result_key, result_config, result_overrides
from conftest import CONF_DIR, compose

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("dataset", "features", "norm", "index", "split", "scorer", "baselines", "eval", "engine")
PRESETS = ("experiment", "cluster", "search")
#: keys Hydra itself or an interpolation reads, not our code
HYDRA_OWNED = ("hydra", "defaults")


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def composed_configs(tmp_path):
    """(label, resolved-free config) for the defaults and every choice of every group and preset."""
    out = [("defaults", compose(tmp_path, []))]
    for g in GROUPS + PRESETS:
        for c in choices(g):
            extra = ["dataset.path=/nowhere"] if (g, c) == ("dataset", "folder") else []
            if (g, c) == ("cluster", "slurm"):
                extra = ["tracking.uri=http://127.0.0.1:1", "paths.cache_dir=/tmp/x"]
            out.append((f"{g}={c}", compose(tmp_path, [f"{g}={c}", *extra])))
    return out


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    else:
        yield path, node


def class_sources(cls) -> str:
    return "\n".join(inspect.getsource(c) for c in cls.__mro__ if c.__module__.startswith("covers"))


def outside(cls, code: str) -> str:
    """The code without the class's own (and its bases') source."""
    for c in cls.__mro__:
        if c.__module__.startswith("covers"):
            code = code.replace(inspect.getsource(c), "")
    return code


def code_sources() -> str:
    files = list((ROOT / "covers").rglob("*.py")) + [ROOT / "run.py"]
    return "\n".join(p.read_text() for p in files)


def unread_keys(config: dict, code: str) -> list[str]:
    """Dotted keys of ``config`` (unresolved) that nothing reads: not a parameter of their part
    (or a parameter the part stores and never uses), not accessed by our code, not interpolated."""
    raw = OmegaConf.to_yaml(OmegaConf.create(config))
    bad = []

    def walk(node, path):
        target = node.get("_target_") if isinstance(node, dict) else None
        if target is not None:
            cls = get_class(target)
            sig = inspect.signature(cls.__init__).parameters
            var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.values())
            src = class_sources(cls) if cls.__module__.startswith("covers") else None
            for k, v in node.items():
                if k.startswith("_"):
                    continue
                where = ".".join(path + (k,))
                if k not in sig:
                    if not var_kw:
                        bad.append(f"{where}: not a parameter of {target}")
                    elif cls.__name__ == "SyntheticWorld":  # **model goes to the generator
                        from covers.data.synthetic import generate_world

                        if k not in inspect.signature(generate_world).parameters:
                            bad.append(f"{where}: not a parameter of generate_world")
                    continue
                if src is not None and len(re.findall(rf"self\.{k}\b", src)) < 2 \
                        and not re.search(rf"(?<!self)\.{k}\b", outside(cls, code)):  # e.g. engine.chunk_size
                    bad.append(f"{where}: {cls.__name__} stores it but never uses it")
                if isinstance(v, dict):
                    walk(v, path + (k,))
            return
        for k, v in node.items():
            if path == () and k in HYDRA_OWNED:
                continue
            if isinstance(v, dict) and v:
                walk(v, path + (k,))
                continue
            where = ".".join(path + (k,))
            interpolated = re.search(r"\$\{" + re.escape(where) + r"\}", raw)
            read = re.search(rf"\.{k}\b|\[\"{k}\"\]|get\(\"{k}\"", code)
            if not (interpolated or read):
                bad.append(f"{where}: neither read by the code nor interpolated")

    walk(config, ())
    return bad


def test_the_unread_key_finder_finds_planted_keys():
    code = "cfg.seed\nsettings.recall_k"
    cfg = {"seed": 0, "unused_top": 1, "eval": {"recall_k": 10, "never": 2},
           "index": {"_target_": "covers.index.exact.ExactIndex", "metric": "angular", "bogus": 3},
           "x": {"y": "${seed}"}}
    assert sorted(unread_keys(cfg, code)) == ["eval.never: neither read by the code nor interpolated",
                                              "index.bogus: not a parameter of covers.index.exact.ExactIndex",
                                              "unused_top: neither read by the code nor interpolated",
                                              "x.y: neither read by the code nor interpolated"]


def test_every_key_of_every_choice_is_read(tmp_path):
    code = code_sources()
    problems = {}
    for label, cfg in composed_configs(tmp_path):
        bad = unread_keys(OmegaConf.to_container(cfg, resolve=False), code)
        if bad:
            problems[label] = bad
    assert not problems, problems


def test_eval_keys_are_settings_the_pipeline_reads(tmp_path):
    from covers import pipeline
    from covers.evaluation import plots

    keys = set(compose(tmp_path, []).eval)
    fields = set(pipeline.Settings.__dataclass_fields__)
    assert keys <= fields
    src = inspect.getsource(pipeline) + inspect.getsource(plots)  # the settings are handed to the figures too
    assert all(re.search(rf"\bs\.{k}\b", src) for k in keys), [k for k in keys if not re.search(rf"\bs\.{k}\b", src)]


def test_speed_only_keys_never_change_the_hash_or_the_name(tmp_path):
    base = OmegaConf.to_container(compose(tmp_path, []), resolve=True)
    gist = OmegaConf.to_container(compose(tmp_path, ["features=gist"]), resolve=True)
    for ref, ov in ((base, ["n_jobs=1"]), (base, ["index.query_jobs=3"]), (base, ["engine.chunk_size=64"]),
                    (base, ["+index.query_chunk=10"]), (base, ["+scorer.chunk=7"]), (base, ["resume=false"]),
                    (base, ["+baselines.item_knn_cf.pair_chunk=16"]), (base, ["engine=dask"]),
                    (gist, ["+features.batch_size=8", "+features.n_jobs=1"])):
        cfg = OmegaConf.to_container(compose(tmp_path, (["features=gist"] if ref is gist else []) + ov), resolve=True)
        assert config_hash(cfg) == config_hash(ref), ov
        assert result_overrides(ov, cfg) == [], ov
    for ov in (["index.n_trees=3"], ["index.search_k=100"], ["index.build_threads=2"], ["seed=1"],
               ["norm=l2"], ["eval.n_bootstrap=10"], ["baselines.als.alpha=1.0"]):
        cfg = OmegaConf.to_container(compose(tmp_path, ov), resolve=True)
        assert config_hash(cfg) != config_hash(base), ov
        assert result_overrides(ov, cfg) == ov


def test_result_rule_by_key():
    assert not is_result_key("tracking.uri") and not is_result_key("hydra.launcher.n_jobs")
    assert not is_result_key("cluster") and not is_result_key("n_jobs") and not is_result_key("engine.n_workers")
    assert is_result_key("features") and is_result_key("+dataset.signal") and is_result_key("experiment")
    cfg = {"index": {"_target_": "covers.index.annoy.AnnoyIndex", "n_trees": 3, "query_jobs": 2}}
    assert is_result_key("index.n_trees", cfg) and not is_result_key("index.query_jobs", cfg)
    assert result_config({"paths": 1, "seed": 0, **cfg}) == {"seed": 0, "index": {
        "_target_": "covers.index.annoy.AnnoyIndex", "n_trees": 3}}


def test_content_to_cf_follows_the_als_baseline(tmp_path):
    cfg = compose(tmp_path, ["baselines.als.alpha=1.0", "baselines.als.factors=8"])
    from hydra.utils import instantiate

    c2cf = instantiate(cfg.baselines.content_to_cf)
    assert (c2cf.cf.alpha, c2cf.cf.factors) == (1.0, 8)
    assert list(compose(tmp_path, ["baselines=simple"]).baselines) == ["random", "popularity", "user_mean", "oracle"]
