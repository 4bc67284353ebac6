"""The synthetic cover world (covers.data.synthetic): determinism, shapes, the
thumb model's null and strong-signal settings, atomic generation, and styles
that simple pixel features can tell apart."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import chi2_contingency

from covers.data import synthetic as syn
from covers.data.synthetic import (
    STYLES, WorldMismatchError, generate_world, make_items, render_cover, render_item_cover,
    simulate_thumbs,
)

SMALL = dict(n_items=60, n_users=20, mean_thumbs_per_user=10, image_size=32, progress=False)


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return np.asarray(im)


def within_user_genre_auc(thumbs: pd.DataFrame, items: pd.DataFrame) -> float:
    """Mean per-user AUC of 'this user's up-rate on the genre in the other half of their thumbs'.

    Within-user, so a user's generosity cannot help; 0.5 when thumbs ignore the genre.
    """
    t = thumbs.merge(items[["item_id", "genre"]], on="item_id")
    t["half"] = t.groupby("user_id").cumcount() % 2
    aucs = []
    for _, d in t.groupby("user_id"):
        fit, test = d[d.half == 0], d[d.half == 1]
        rate = fit.groupby("genre").thumb.mean()
        score = test.genre.map(rate).fillna(fit.thumb.mean()).to_numpy()
        y = test.thumb.to_numpy()
        pos, neg = score[y == 1], score[y == 0]
        if len(pos) and len(neg):
            diff = pos[:, None] - neg[None, :]
            aucs.append(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)
    return float(np.mean(aucs))


# --------------------------------------------------------------------------- covers
def test_styles_and_render_cover():
    assert STYLES == ("minimal-techno", "metal", "ambient", "jazz", "pop", "classical", "hip-hop", "punk")
    for style in STYLES:
        img = render_cover(style, np.random.default_rng(3), 40)
        assert img.mode == "RGB" and img.size == (40, 40)
        again = render_cover(style, np.random.default_rng(3), 40)
        assert np.array_equal(np.asarray(img), np.asarray(again))
    default = render_cover("punk", np.random.default_rng(0))
    assert default.size == (128, 128)
    with pytest.raises(ValueError, match="unknown cover style"):
        render_cover("polka", np.random.default_rng(0))
    with pytest.raises(ValueError, match="size"):
        render_cover("pop", np.random.default_rng(0), 8)


def test_minimal_techno_is_a_light_circle_on_black():
    for k in range(20):
        a = np.asarray(render_cover("minimal-techno", np.random.default_rng(k), 64).convert("L"), float)
        assert np.median(a) < 30                          # the field is dark
        assert a[24:40, 24:40].max() > 160                # something light near the centre
        assert np.mean(a[:6, :6]) < 40 and np.mean(a[-6:, -6:]) < 60  # corners stay dark-ish


def test_styles_are_separable_by_nearest_centroid_on_16px_gray():
    def feats(style, seeds):
        out = []
        for k in seeds:
            img = render_cover(style, np.random.default_rng([123, STYLES.index(style), k]), 64)
            out.append(np.asarray(img.convert("L").resize((16, 16), Image.BILINEAR), np.float32).ravel())
        return np.array(out) / 255.0

    train = {s: feats(s, range(40)) for s in STYLES}
    test = {s: feats(s, range(40, 80)) for s in STYLES}
    centroids = np.array([train[s].mean(0) for s in STYLES])
    recall = {}
    for j, s in enumerate(STYLES):
        d = ((test[s][:, None, :] - centroids[None]) ** 2).sum(-1)
        recall[s] = float((d.argmin(1) == j).mean())
    accuracy = np.mean(list(recall.values()))
    assert accuracy > 0.45, recall  # chance is 1/8
    assert recall["minimal-techno"] >= 0.9, recall


# --------------------------------------------------------------------------- items
def test_make_items_columns_genres_and_off_style():
    items = make_items(4000, 8, 0.2, seed=5)
    assert list(items.columns) == ["item_id", "genre", "style", "quality", "popularity"]
    assert len(items) == 4000 and items.item_id.is_unique
    assert items.item_id.iloc[123] == "a000123"
    assert set(items.genre) == set(STYLES) and set(items["style"]) == set(STYLES)
    counts = items.genre.value_counts()
    assert counts.max() - counts.min() <= 8  # balanced blocks of n_genres
    off = (items.genre != items["style"]).mean()
    assert 0.17 < off < 0.23
    assert (items.popularity > 0).all() and abs(items.quality.mean()) < 0.1
    assert 0.3 < np.corrcoef(items.quality, np.log(items.popularity))[0, 1] < 0.7

    three = make_items(300, 3, 0.0, seed=5)
    assert set(three.genre) == set(STYLES[:3]) and (three.genre == three["style"]).all()
    assert set(make_items(8, 8, 0.0, seed=1).genre) == set(STYLES)  # every genre even in 8 items
    with pytest.raises(ValueError, match="distinct styles"):
        make_items(100, 9, 0.2, seed=0)
    with pytest.raises(ValueError, match="off_style"):
        make_items(100, 8, 1.5, seed=0)


def test_make_items_is_prefix_stable_and_seeded():
    small, big = make_items(50, 8, 0.3, seed=2), make_items(2100, 8, 0.3, seed=2)
    pd.testing.assert_frame_equal(small, big.head(50))
    pd.testing.assert_frame_equal(make_items(2100, 8, 0.3, seed=2), big)
    assert not make_items(50, 8, 0.3, seed=3).equals(small)


# --------------------------------------------------------------------------- thumbs
@pytest.fixture(scope="module")
def items3k() -> pd.DataFrame:
    return make_items(3000, 8, 0.2, seed=0)


def test_default_thumbs_shape_rates_and_timestamps(items3k):
    t = simulate_thumbs(items3k, seed=0)
    assert list(t.columns) == ["user_id", "item_id", "thumb", "timestamp", "true_score"]
    assert t.user_id.nunique() == 600 and t.user_id.iloc[0] == "u00000"
    assert 45 < len(t) / 600 < 55
    assert set(t.thumb.unique()) == {0, 1}
    assert 0.45 < t.thumb.mean() < 0.62
    assert not t.duplicated(["user_id", "item_id"]).any()
    assert set(t.item_id) <= set(items3k.item_id)
    assert t.groupby("user_id").size().min() >= 5
    assert (t.groupby("user_id").timestamp.diff().dropna() > 0).all()
    assert t.timestamp.dtype == np.int64
    # true_score is the logit: thumbs get likelier as it grows
    bins = pd.qcut(t.true_score, 5, labels=False)
    rates = t.thumb.groupby(bins).mean().to_numpy()
    assert np.all(np.diff(rates) > 0) and rates[0] < 0.3 and rates[-1] > 0.75
    # popular albums are seen more often
    seen = t.item_id.value_counts().reindex(items3k.item_id, fill_value=0).to_numpy()
    assert np.corrcoef(seen, items3k.popularity)[0, 1] > 0.5
    # genres are liked differently by different users: within-user genre signal
    assert 0.57 < within_user_genre_auc(t, items3k) < 0.75
    pd.testing.assert_frame_equal(t, simulate_thumbs(items3k, seed=0))
    assert not t.equals(simulate_thumbs(items3k, seed=1))


def test_null_setting_makes_thumbs_independent_of_genre_and_cover(items3k):
    t = simulate_thumbs(items3k, seed=4, n_users=1000, signal=0.0, quality_weight=0.0)
    assert len(t) > 40_000
    m = t.merge(items3k, on="item_id")
    for col in ("genre", "style"):
        p = chi2_contingency(pd.crosstab(m[col], m["thumb"]))[1]
        assert p > 1e-3, (col, p)
    assert abs(within_user_genre_auc(t, items3k) - 0.5) < 0.02
    assert abs(np.corrcoef(m.thumb, m.quality)[0, 1]) < 0.02
    # the true score is the user's bias alone: constant within a user
    assert (t.groupby("user_id").true_score.nunique() == 1).all()


def test_strong_signal_makes_genre_highly_predictive(items3k):
    t = simulate_thumbs(items3k, seed=4, signal=6.0, quality_weight=0.0, noise=0.0)
    assert within_user_genre_auc(t, items3k) > 0.85
    # and through the style of on-style covers
    m = t.merge(items3k, on="item_id")
    on = m[m.genre == m["style"]]
    assert within_user_genre_auc(on[t.columns], items3k) > 0.8


def test_quality_weight_alone_links_thumbs_to_quality(items3k):
    t = simulate_thumbs(items3k, seed=4, signal=0.0, quality_weight=1.5)
    m = t.merge(items3k, on="item_id")
    assert np.corrcoef(m.thumb, m.quality)[0, 1] > 0.2
    assert abs(within_user_genre_auc(t, items3k) - 0.5) < 0.03


def test_simulate_thumbs_on_item_id_and_genre_only():
    items = pd.DataFrame({"item_id": [f"r{i}" for i in range(200)],
                          "genre": np.array(["rock", "folk", "dub"])[np.arange(200) % 3]})
    t = simulate_thumbs(items, n_users=30, mean_thumbs_per_user=20, seed=7, signal=6.0, noise=0.0)
    assert len(t) > 300 and set(t.item_id) <= set(items.item_id)
    pd.testing.assert_frame_equal(t, simulate_thumbs(items, n_users=30, mean_thumbs_per_user=20,
                                                     seed=7, signal=6.0, noise=0.0))
    assert within_user_genre_auc(t, items) > 0.8
    with pytest.raises(ValueError, match="genre"):
        simulate_thumbs(items[["item_id"]], seed=0)
    with pytest.raises(ValueError, match="unique"):
        simulate_thumbs(pd.concat([items, items]), seed=0)


# --------------------------------------------------------------------------- the world folder
def test_generate_world_layout_and_determinism(tmp_path):
    a = generate_world(tmp_path / "a", seed=3, **SMALL)
    b = generate_world(tmp_path / "b", seed=3, **SMALL)
    assert sorted(p.name for p in a.iterdir()) == ["covers", "items.csv", "thumbs.csv", "world.json"]
    for name in ("items.csv", "thumbs.csv", "world.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    items = pd.read_csv(a / "items.csv", dtype={"item_id": str})
    thumbs = pd.read_csv(a / "thumbs.csv", dtype={"user_id": str, "item_id": str})
    pd.testing.assert_frame_equal(items, make_items(60, 8, 0.2, seed=3))
    assert sorted(p.stem for p in (a / "covers").iterdir()) == sorted(items.item_id)
    for i in (0, 7, 31, 59):
        item = items.iloc[i]
        pa, pb = pixels(a / "covers" / f"{item.item_id}.png"), pixels(b / "covers" / f"{item.item_id}.png")
        assert pa.shape == (32, 32, 3) and np.array_equal(pa, pb)
        assert np.array_equal(pa, np.asarray(render_item_cover(3, i, item["style"], 32)))
    meta = json.loads((a / "world.json").read_text())
    assert meta["version"] == syn.GENERATOR_VERSION and meta["params"]["seed"] == 3
    assert meta["counts"]["items"] == 60 and meta["counts"]["thumbs"] == len(thumbs)
    assert meta["counts"]["up_rate"] == pytest.approx(thumbs.thumb.mean(), abs=1e-6)
    c = generate_world(tmp_path / "c", seed=4, **SMALL)
    assert (c / "thumbs.csv").read_bytes() != (a / "thumbs.csv").read_bytes()
    assert not np.array_equal(pixels(c / "covers" / "a000000.png"), pixels(a / "covers" / "a000000.png"))


def test_cover_does_not_depend_on_world_size(tmp_path):
    small = generate_world(tmp_path / "s", **{**SMALL, "n_items": 50})
    big = generate_world(tmp_path / "b", **{**SMALL, "n_items": 100})
    for item_id in ("a000000", "a000013", "a000049"):
        assert np.array_equal(pixels(small / "covers" / f"{item_id}.png"), pixels(big / "covers" / f"{item_id}.png"))
    a = pd.read_csv(small / "items.csv")
    b = pd.read_csv(big / "items.csv")
    pd.testing.assert_frame_equal(a, b.head(50))


def test_existing_world_is_reused_and_mismatch_raises(tmp_path):
    path = generate_world(tmp_path / "w", **SMALL)
    stamp = (path / "world.json").stat().st_mtime_ns
    (path / "note.txt").write_text("kept")
    assert generate_world(tmp_path / "w", **SMALL) == path
    assert (path / "world.json").stat().st_mtime_ns == stamp and (path / "note.txt").exists()
    with pytest.raises(WorldMismatchError, match="signal"):
        generate_world(tmp_path / "w", **{**SMALL, "signal": 0.0})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("not a world")
    with pytest.raises(FileExistsError, match="not a generated cover world"):
        generate_world(tmp_path / "other", **SMALL)
    (tmp_path / "empty").mkdir()
    assert (generate_world(tmp_path / "empty", **SMALL) / "world.json").exists()


def test_interrupted_generation_leaves_no_world(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(syn, "simulate_thumbs", boom)
    with pytest.raises(KeyboardInterrupt):
        generate_world(tmp_path / "w", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_leftover_tmp_dir_is_not_a_world(tmp_path):
    # a generation killed mid-way (its process is gone) left a half world behind
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"w.tmp-{dead.pid}"
    (stale / "covers").mkdir(parents=True)
    (stale / "items.csv").write_text("item_id\n")
    assert not (tmp_path / "w").exists()
    path = generate_world(tmp_path / "w", **SMALL)
    assert (path / "world.json").exists() and len(list((path / "covers").iterdir())) == 60
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]
    # a tmp dir of a live process (here: ours, as if generating in another thread) is left alone
    live = tmp_path / f"v.tmp-{os.getppid()}"
    live.mkdir()
    generate_world(tmp_path / "v", **SMALL)
    assert live.exists()


def test_folder_loader_reads_the_world(tmp_path):
    folder = pytest.importorskip("covers.data.folder")
    path = generate_world(tmp_path / "w", n_genres=4, **SMALL)
    ds = folder.FolderDataset(str(path), on_error="fail").load()
    assert ds.n_items == 60 and set(ds.items.genre) == set(STYLES[:4])
    assert len(ds.thumbs) == len(pd.read_csv(path / "thumbs.csv"))
    assert {"timestamp", "true_score"} <= set(ds.thumbs.columns)


def test_thumbs_at_scale_follow_the_model():
    items = syn.make_items(200_000, seed=1)
    t = syn.simulate_thumbs(items, n_users=8000, mean_thumbs_per_user=40, seed=1)  # 1.6e9 pairs: sequential
    assert 8000 * 200_000 > syn.EXPOSURE_DENSE_MAX
    assert t.user_id.nunique() == 8000 and not t.duplicated(["user_id", "item_id"]).any()
    assert 35 < len(t) / 8000 < 45 and t.groupby("user_id").size().min() >= 5
    assert (t.groupby("user_id").timestamp.diff().dropna() > 0).all()
    seen = t.item_id.value_counts().reindex(items.item_id, fill_value=0).to_numpy()
    assert np.corrcoef(seen, items.popularity)[0, 1] > 0.3  # popular albums are seen more
    bins = pd.qcut(t.true_score, 5, labels=False)
    rates = t.thumb.groupby(bins).mean().to_numpy()
    assert np.all(np.diff(rates) > 0)


def test_sequential_exposure_has_the_gumbel_distribution():
    """Both samplers draw k distinct items with probability prop. to pop^a (1 + e G theta): same
    inclusion frequencies (up to noise) on a small catalogue."""
    from covers.data.synthetic import _exposure_gumbel, _exposure_sequential

    rng = np.random.default_rng(0)
    n, G, users = 40, 4, 3000
    logpop = rng.normal(size=n)
    gidx = np.arange(n) % G
    theta = rng.dirichlet(np.ones(G), size=1)
    logpref = np.log1p(2.0 * G * np.repeat(theta, users, 0))
    k = np.full(users, 6)
    counts = []
    for f in (_exposure_gumbel, _exposure_sequential):
        u, i = f(np.random.default_rng(1), k, logpop, logpref, gidx)
        assert len(u) == users * 6 and (np.bincount(u, minlength=users) == 6).all()
        assert len(np.unique(u * n + i)) == len(u)
        counts.append(np.bincount(i, minlength=n) / users)
    assert np.abs(counts[0] - counts[1]).max() < 0.04, np.abs(counts[0] - counts[1]).max()
