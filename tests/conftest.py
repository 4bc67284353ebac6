"""Shared fixtures: small datasets in the folder format, built under tmp_path, and a
composed real config with every output (MLflow store, cache, Hydra dirs) under tmp_path."""
from __future__ import annotations

import importlib
import os
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

    import covers.app  # noqa: F401  (registers the covers_root resolver)

    base = [f"paths.cache_dir={tmp}/cache", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            "eval.n_bootstrap=100", "eval.recall_queries=50", "eval.grid_queries=2", "eval.grid_neighbours=3"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return h_compose(config_name="config", overrides=base + overrides, return_hydra_config=False)
