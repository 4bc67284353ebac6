"""Shared fixtures and helpers: small datasets in the folder format, built under tmp_path; a composed
real config with every output (MLflow store, cache, Hydra dirs) under tmp_path; the one sweep command
(``python run.py -m ...``) the sweep tests run; loopback-server helpers; small procedural covers,
coded thumbs and the brute-force bootstrap the metric tests compare against."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def need(module: str, extra: str):
    """Import an optional extra's module, or skip; in CI (which installs every extra) fail instead,
    so a broken install step cannot pass as skipped tests."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed (pip install -e .[{extra}])", allow_module_level=True)


def draw_shape(kind: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """'circle': light disc on black (minimal techno); 'stripes': dark bars on a light field."""
    if kind == "circle":
        img = Image.new("RGB", (size, size), (0, 0, 0))
        r = rng.integers(size // 5, size // 3)
        cx, cy = rng.integers(size // 3, 2 * size // 3, size=2)
        ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=(235, 235, 235))
    else:
        img = Image.new("RGB", (size, size), (230, 225, 210))
        d = ImageDraw.Draw(img)
        step = int(rng.integers(6, 10))
        for x in range(int(rng.integers(0, step)), size, step):
            d.rectangle([x, 0, x + step // 2, size], fill=(20, 20, 40))
    return img


def write_folder(root: Path, n_items: int, n_users: int, thumbs_per_user: int, planted: bool, seed: int = 0) -> Path:
    """A dataset whose thumbs are determined by the cover kind (planted) or independent of it."""
    rng = np.random.default_rng(seed)
    (root / "covers").mkdir(parents=True)
    kinds = np.array(["circle", "stripes"])[rng.integers(0, 2, n_items)]
    for i, k in enumerate(kinds):
        draw_shape(k, rng).save(root / "covers" / f"i{i:04d}.png")
    pd.DataFrame({"item_id": [f"i{i:04d}" for i in range(n_items)], "genre": kinds}).to_csv(root / "items.csv", index=False)
    rows = []
    for u in range(n_users):
        likes = "circle" if u % 2 == 0 else "stripes"
        for i in rng.choice(n_items, size=thumbs_per_user, replace=False):
            up = int(kinds[i] == likes) if planted else int(rng.random() < 0.5)
            rows.append((f"u{u:03d}", f"i{i:04d}", up))
    pd.DataFrame(rows, columns=["user_id", "item_id", "thumb"]).to_csv(root / "thumbs.csv", index=False)
    return root


@pytest.fixture(scope="session")
def planted_dir(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("planted"), 300, 60, 30, planted=True)


@pytest.fixture(scope="session")
def null_dir(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("null"), 300, 120, 40, planted=False, seed=1)


def compose(tmp: Path, overrides: list[str]):
    """The real config, shrunk by overrides, with every output under ``tmp``."""
    from hydra import compose as h_compose
    from hydra import initialize_config_dir

    import covers.app.task  # noqa: F401  (registers the covers_root resolver)

    base = [f"paths.cache_dir={tmp}/cache", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            "eval.n_bootstrap=100", "eval.recall_queries=50", "eval.grid_queries=2", "eval.grid_neighbours=3"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return h_compose(config_name="config", overrides=base + overrides, return_hydra_config=False)


# --------------------------------------------------------------------------- helpers shared by test modules
ROOT = Path(CONF_DIR).parent
#: environment for subprocesses that import the package from this checkout
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
#: metrics every finished job run logs
KEY_METRICS = ("user_auc", "thumbs_auc", "coverage", "thumbs_auc_random", "thumbs_auc_popularity",
               "index_recall_at_10", "user_auc_lo", "user_auc_hi")
#: the light settings of every test sweep: the cheap baselines, short bootstraps, a small figure
QUICK = ("baselines=simple", "eval.n_bootstrap=50", "eval.recall_queries=50", "eval.grid_queries=2",
         "eval.grid_neighbours=3")


def sweep_command(out: Path, *overrides: str, data_dir: Path | None = None, uri: str | None = None,
                  sweep: str = "sweep", quick: tuple[str, ...] = QUICK) -> list[str]:
    """``python run.py -m ...``: the folder dataset at ``data_dir`` (else the default synthetic world),
    ``quick`` settings, then ``overrides``; cache, store and sweep dir under ``out``. ``uri``: the
    tracking store (default a sqlite file under ``out``; "" sets none, so the environment decides)."""
    uri = f"sqlite:///{out}/mlflow.db" if uri is None else uri
    data = ["dataset=folder", f"dataset.path={data_dir}"] if data_dir is not None else []
    return [sys.executable, "run.py", "-m", *data, *quick, *overrides, f"paths.cache_dir={out}/cache",
            *([f"tracking.uri={uri}"] if uri else []), f"hydra.sweep.dir={out}/{sweep}"]


def run_sweep(out: Path, *overrides: str, data_dir: Path | None = None, uri: str | None = None, sweep: str = "sweep",
              quick: tuple[str, ...] = QUICK, env: dict | None = None, timeout: float = 900):
    """Run :func:`sweep_command` from the checkout; (the finished process, every job's result.json in job order)."""
    cmd = sweep_command(out, *overrides, data_dir=data_dir, uri=uri, sweep=sweep, quick=quick)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    results = [json.loads(f.read_text()) for f in sorted((out / sweep).glob("*/result.json"),
                                                         key=lambda f: int(f.parent.name))]
    return p, results


def job_runs(uri: str, experiment: str = "covers"):
    """(job runs, sweep parent runs) of an experiment."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return ([r for r in runs if r.data.tags.get("covers.kind") != "sweep"],
            [r for r in runs if r.data.tags.get("covers.kind") == "sweep"])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    """Wait until ``url`` answers 200 (``proc`` is the server: its exit ends the wait)."""
    import time
    import urllib.request

    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {seconds}s")


def procedural(n: int, image_size: int = 32, seed: int = 0):
    """``n`` procedural covers of the synthetic world (drawn on demand)."""
    from covers.data.sources import ProceduralCovers
    from covers.data.synthetic import make_items, render_item_cover

    return ProceduralCovers(render_item_cover, seed, list(make_items(n, seed=seed)["style"]), image_size)


def in_memory(source, ex) -> np.ndarray:
    """Every cover of ``source`` decoded and featurised by ``ex`` in one call: the reference matrix."""
    pix, _ = source.decode(range(len(source)), ex.size, ex.mode, 1, "skip")
    return ex.transform(pix)


def thumbs_frame(rng: np.random.Generator, n_users: int = 50, n_items: int = 80, per_user: int = 20) -> pd.DataFrame:
    """Coded thumbs (user, item, thumb, user_id, item_id): ``per_user`` distinct items per user, fair coin thumbs."""
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, per_user, replace=False):
            rows.append((u, i, int(rng.random() < 0.5)))
    t = pd.DataFrame(rows, columns=["user", "item", "thumb"])
    t["user_id"] = "u" + t["user"].astype(str)
    t["item_id"] = "i" + t["item"].astype(str)
    return t


def crossed_thumbs(seed: int = 0, n: int = 500):
    """(users, items, y, scores): users and albums crossed, scores rounded so they tie."""
    rng = np.random.default_rng(seed)
    users, items, y = rng.integers(0, 25, n), rng.integers(0, 40, n), rng.integers(0, 2, n)
    return users, items, y, np.round(rng.normal(size=n) + 0.5 * y, 1)


def naive_pigeonhole(users, items, y, s, n_boot: int, seed: int) -> np.ndarray:
    """Replicates of the mean per-user AUC, users and items resampled, by brute force over pairs
    (the same draws as covers.evaluation.metrics: per replicate users, then items)."""
    r = np.random.default_rng(seed)
    uu, ii = np.unique(users), np.unique(items)
    vals = []
    for _ in range(n_boot):
        wu = np.bincount(r.integers(0, uu.size, uu.size), minlength=uu.size)
        wi = np.bincount(r.integers(0, ii.size, ii.size), minlength=ii.size)
        per, wts = [], []
        for k, u in enumerate(uu):
            m = users == u
            w = wi[np.searchsorted(ii, items[m])].astype(float)
            yp, sp = y[m].astype(bool), s[m]
            tp, tn = w[yp].sum(), w[~yp].sum()
            if tp == 0 or tn == 0 or wu[k] == 0:
                continue
            cmp = (sp[yp][:, None] > sp[~yp][None, :]) + 0.5 * (sp[yp][:, None] == sp[~yp][None, :])
            per.append((w[yp][:, None] * w[~yp][None, :] * cmp).sum() / (tp * tn))
            wts.append(wu[k])
        vals.append(np.average(per, weights=wts))
    return np.array(vals)


def gist_extractors():
    """GIST extractors (colour on two threads, gray), or none without the GIST module."""
    try:
        from covers.features.gist import GistFeatures
    except ImportError:
        return []
    return [GistFeatures(size=32, mode="rgb", n_jobs=2), GistFeatures(size=16, mode="gray")]


def extractors():
    """One extractor of each kind and mode, for the extraction tests."""
    from covers.features.pixel import PixelFeatures

    return [PixelFeatures(16, "gray"), PixelFeatures(8, "rgb")] + gist_extractors()
