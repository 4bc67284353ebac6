"""covers.evaluation.plots: every figure is written as a PNG of the size its layout gives (figure
inches x 110 dpi), with something drawn on it; write_all picks one query cover per genre."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import procedural
from covers.data.base import Catalogue
from covers.evaluation import plots
from covers.index.base import Neighbours
from covers.pipeline import Settings

DPI = 110


def png(path: Path) -> Image.Image:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    im = Image.open(path)
    im.load()
    return im


def drawn(im: Image.Image) -> int:
    """How many distinct colours the figure has (a blank canvas has one)."""
    return len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0))


def scores_frame(n=200, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"user": rng.integers(0, 10, n), "item": rng.integers(0, 30, n), "thumb": y,
                         "score_method": y + rng.normal(size=n), "covered_method": True,
                         "score_random": rng.random(n), "covered_random": True})


def metrics_of(methods):
    m = {}
    for k, name in enumerate(methods):
        sfx = "" if name == "method" else f"_{name}"
        m.update({f"thumbs_auc{sfx}": 0.6 + 0.1 * k, f"user_auc{sfx}": 0.55 + 0.1 * k,
                  f"user_auc_lo{sfx}": 0.5 + 0.1 * k, f"user_auc_hi{sfx}": 0.6 + 0.1 * k})
    return m


def test_auc_bars_and_roc_curves_sizes(tmp_path):
    methods = ["method", "random", "popularity"]
    bars = plots.auc_bars(tmp_path / "auc.png", metrics_of(methods), methods)
    assert bars == tmp_path / "auc.png"
    im = png(bars)
    assert im.size == (round((1.2 + 1.1 * 3) * DPI), round(3.8 * DPI)) and drawn(im) > 3  # wider with more methods
    two = ["method", "random"]
    assert png(plots.auc_bars(tmp_path / "auc2.png", metrics_of(two), two)).size == (round(4.0 * DPI), round(3.8 * DPI))  # the minimum width: room for the labels
    roc = png(plots.roc_curves(tmp_path / "roc.png", scores_frame(), ["method", "random"]))
    assert roc.size == (4 * DPI, 4 * DPI) and drawn(roc) > 3
    assert plots.display("method") == "covers" and plots.display("random") == "random"
    with pytest.raises(KeyError):  # a method without its metrics is an error, not an empty bar
        plots.auc_bars(tmp_path / "x.png", metrics_of(["method"]), ["method", "random"])


def test_neighbour_grid_is_queries_by_neighbours_plus_one(tmp_path):
    covers = procedural(12, image_size=16)
    nb_ids = np.tile(np.arange(1, 6), (12, 1))
    nb_ids[3, 2:] = -1  # empty slots are left blank, not drawn as cover -1
    labels = np.array(["a", "b", "a|b", None] * 3, dtype=object)
    im = png(plots.neighbour_grid(tmp_path / "g.png", covers, nb_ids, np.array([0, 3, 7]), labels, 4, thumb=16))
    assert im.size == (round(5 * 1.1 * DPI), round(3 * 1.2 * DPI)) and drawn(im) > 10
    im2 = png(plots.neighbour_grid(tmp_path / "g2.png", covers, nb_ids, np.array([5]), None, 2, thumb=16))
    assert im2.size == (round(3 * 1.1 * DPI), round(1.2 * DPI))


def test_write_all_writes_the_three_figures_with_one_query_per_genre(tmp_path, monkeypatch):
    n = 24
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)],
                          "genre": ["rock", "jazz", "pop"] * 8,
                          "style": ["rock", "jazz", "pop"] * 4 + ["pop", "rock", "jazz"] * 4})  # half off-style
    ds = Catalogue(name="t", root=tmp_path, items=items, thumbs=pd.DataFrame(), covers=procedural(n, 16), fingerprint="f")
    nb = Neighbours(np.tile(np.arange(1, 9), (n, 1)), np.ones((n, 8)), 0.0)
    seen = {}
    real = plots.neighbour_grid

    def spy(path, covers, nb_ids, queries, labels, n_nb, thumb=64):
        seen.update(queries=queries, labels=labels, n_nb=n_nb)
        return real(path, covers, nb_ids, queries, labels, n_nb, thumb=16)

    monkeypatch.setattr(plots, "neighbour_grid", spy)
    methods = ["method", "random"]
    s = Settings(grid_queries=8, grid_neighbours=3, seed=4)
    paths = plots.write_all(tmp_path, ds, nb, metrics_of(methods), scores_frame(), methods, s)
    assert paths == [tmp_path / "similar_covers.png", tmp_path / "auc.png", tmp_path / "roc.png"]
    q = seen["queries"]
    assert seen["n_nb"] == 3 and len(q) == 3  # one row per genre (fewer genres than grid_queries)
    assert sorted(items["genre"][q]) == ["jazz", "pop", "rock"]
    assert (items["genre"][q] == items["style"][q]).all()  # drawn in their own genre's style
    assert png(paths[0]).size == (round(4 * 1.1 * DPI), round(3 * 1.2 * DPI))
    assert png(paths[1]).size == (round(4.0 * DPI), round(3.8 * DPI)) and png(paths[2]).size == (440, 440)
    # no genres at all: grid_queries random covers
    plain = Catalogue(name="t", root=tmp_path, items=items[["item_id"]], thumbs=pd.DataFrame(),
                      covers=procedural(n, 16), fingerprint="f")
    plots.write_all(tmp_path, plain, nb, metrics_of(methods), scores_frame(), methods, Settings(grid_queries=5))
    assert seen["labels"] is None and len(set(seen["queries"])) == 5


def test_pareto_frontier_hand_worked():
    from covers.evaluation.plots import pareto_frontier

    # (recall, qps): (0.5, 100) (0.9, 50) (0.8, 40: beaten by 0.9/50) (0.95, 10) (0.9, 20: same recall, slower)
    f = pareto_frontier(np.array([0.5, 0.9, 0.8, 0.95, 0.9]), np.array([100.0, 50.0, 40.0, 10.0, 20.0]))
    assert f.tolist() == [0, 1, 3]


def test_index_charts_one_line_per_family(tmp_path):
    import pandas as pd

    from covers.app.summary import index_charts

    df = pd.DataFrame({"tags.covers.index_family": ["annoy", "annoy", "voyager", "faiss-IVF-PQ"],
                       "metrics.index_recall_at_10": [0.6, 0.9, 0.99, 0.7], "metrics.index_qps_single": [900, 300, 2e3, 5e3],
                       "metrics.index_qps_batched": [900, 300, 8e3, 2e4], "metrics.user_auc": [0.53, 0.54, 0.55, 0.52],
                       "metrics.user_auc_lo": [0.5, 0.51, 0.52, 0.49], "metrics.user_auc_hi": [0.56, 0.57, 0.58, 0.55]})
    files = index_charts(df, tmp_path)
    assert [f.name for f in files] == ["index_recall_qps.png", "index_user_auc_recall.png"]
    assert all(f.stat().st_size > 10_000 for f in files)
    assert index_charts(df.drop(columns="metrics.index_qps_single"), tmp_path) == []  # old runs: nothing drawn
