"""Artist-aware evaluation (#16): the folder format's ``artist`` column, ``split=cold_artists``,
the kNN's ``exclude_same_artist`` and ``same_artist_at_k`` - each on a hand-worked case, the
metric against a brute-force loop, and all of them on a planted confound: a world where albums
of one artist have near-identical covers and users' thumbs depend on the artist only, so the
cover kNN "works" only by finding the artist, and stops working once that route is closed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import compose, thumbs_frame
from covers.data.base import item_artists
from covers.data.folder import DatasetError, FolderDataset
from covers.evaluation.evaluate import score_methods, summarise
from covers.evaluation.metrics import same_artist_at_k
from covers.evaluation.tuning import validation_split
from covers.features.pixel import PixelFeatures
from covers.index.base import Neighbours
from covers.index.exact import ExactIndex
from covers.norm import RowZScore
from covers.scorers.base import Context
from covers.scorers.knn import KNNScorer
from covers.split import ColdArtists, ColdItems, UserHoldout, with_artists


def small_folder(root: Path, items_csv: str | None, ids=("a", "b", "c", "d", "e")) -> Path:
    (root / "covers").mkdir(parents=True)
    for n, i in enumerate(ids):
        Image.new("RGB", (8, 8), (n * 40, 0, 0)).save(root / "covers" / f"{i}.png")
    (root / "thumbs.csv").write_text("user_id,item_id,thumb\n" + "".join(f"u1,{i},{n % 2}\n" for n, i in enumerate(ids)))
    if items_csv is not None:
        (root / "items.csv").write_text(items_csv)
    return root


# --------------------------------------------------------------------------- reading the column
def test_artist_column_is_stripped_and_empty_cells_are_unknown(tmp_path):
    # a: padded "Beta", b: "Alpha", c: whitespace only, d: empty, e: no items.csv row
    root = small_folder(tmp_path, 'item_id,genre,artist\na,x,  Beta \nb,y,Alpha\nc,x,"   "\nd,y,\n')
    ds = FolderDataset(str(root)).load()
    assert ds.items["artist"].tolist()[:4] == ["Beta", "Alpha", "", ""]
    np.testing.assert_array_equal(ds.artists(), [1, 0, -1, -1, -1])  # numbered by sorted name
    assert ds.artists().dtype == np.int64 and ds.skipped.total == 0


def test_no_artist_column_means_no_artists(tmp_path):
    assert FolderDataset(str(small_folder(tmp_path / "a", "item_id,genre\na,x\n"))).load().artists() is None
    assert FolderDataset(str(small_folder(tmp_path / "b", None))).load().artists() is None
    assert item_artists(None) is None


def test_item_artists_reads_missing_values_as_unknown():
    items = pd.DataFrame({"item_id": list("abcde"), "artist": ["Z", None, np.nan, " Z", "A"]})
    np.testing.assert_array_equal(item_artists(items), [1, -1, -1, 1, 0])


def test_placeholder_artist_is_unknown_and_reported_with_its_line(tmp_path):
    root = small_folder(tmp_path, "item_id,artist\na,Various Artists\nb,Alpha\nc,nan\nd,Alpha\n")
    ds = FolderDataset(str(root)).load()
    np.testing.assert_array_equal(ds.artists(), [-1, 0, -1, 0, -1])
    assert ds.skipped.counts == {"placeholder_artist": 2}
    rows = ds.skipped.frame()
    assert rows["where"].str.endswith(("items.csv:line 2", "items.csv:line 4")).all()
    assert "'Various Artists'" in rows["what"].iloc[0] and "'nan'" in rows["what"].iloc[1]
    with pytest.raises(DatasetError, match=r"items.csv:line 2: item 'a': artist 'Various Artists' names no artist"):
        FolderDataset(str(root), on_error="fail").load()


# --------------------------------------------------------------------------- split=cold_artists
def coded_thumbs(seed: int = 0):
    """Coded thumbs over 80 items; items by artist i // 4 (20 artists), every 10th item unknown."""
    t = thumbs_frame(np.random.default_rng(seed), 50, 80, 20)
    artists = np.arange(80) // 4
    artists[::10] = -1
    return with_artists(t, artists), artists


def test_cold_artists_holds_out_whole_artists():
    t, artists = coded_thumbs()
    sp = ColdArtists(artist_frac=0.25, min_thumbs=5, seed=3).split(t)
    tr, te = sp.train["artist"].to_numpy(), sp.test["artist"].to_numpy()
    known_test = set(te[te >= 0])
    assert known_test and not known_test & set(tr[tr >= 0])  # no known artist on both sides
    assert not set(sp.test["item"]) & set(sp.train["item"])  # unknown-artist albums are held out alone
    # the fraction: of the 20 artists and 8 unknown-artist albums (28 draws), round(0.25 * 28) = 7 held out
    groups = lambda f: set(np.where(f["artist"] >= 0, f["artist"], -1 - f["item"]))  # noqa: E731
    assert len(groups(sp.test)) == 7 and len(groups(sp.train)) == 21
    # every thumb of a held-out artist is in test: nothing of it in train, and no thumb lost
    assert len(sp.train) + len(sp.test) == len(t) and sp.n_users_filtered == 0
    assert (sp.test["artist"] == artists[sp.test["item"]]).all()


def test_cold_artists_is_deterministic_per_seed():
    t, _ = coded_thumbs()
    a, b = ColdArtists(seed=1).split(t), ColdArtists(seed=1).split(t)
    pd.testing.assert_frame_equal(a.test, b.test)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert set(ColdArtists(seed=2).split(t).test["item"]) != set(a.test["item"])


def test_cold_artists_validation_split_keeps_artists_apart():
    # eval.tune carves validation from train with the same splitter: its artists stay cold too
    t, _ = coded_thumbs(1)
    sp = ColdArtists(artist_frac=0.3, seed=0)
    val = validation_split(sp, sp.split(t).train)
    va, vt = val.train["artist"].to_numpy(), val.test["artist"].to_numpy()
    assert len(vt) and not set(vt[vt >= 0]) & set(va[va >= 0])


def test_cold_artists_fails_loudly_without_artists():
    t, _ = coded_thumbs()
    with pytest.raises(ValueError, match=r"^split=cold_artists needs item artists: an 'artist' column in items.csv"):
        ColdArtists().split(t.drop(columns="artist"))
    with pytest.raises(ValueError, match="names no artist"):
        ColdArtists().split(t.assign(artist=-1))
    with pytest.raises(ValueError, match="ColdArtists: artist_frac must be in"):
        ColdArtists(artist_frac=0.0).split(t)


# --------------------------------------------------------------------------- same_artist_at_k
def test_same_artist_at_k_hand_worked():
    artists = np.array([0, 0, 1, -1])
    ids = np.array([[1, 2], [0, -1], [3, 0], [0, 1]])
    # item 0: 1 same, 2 not -> 1/2; item 1: 0 same, empty slot skipped -> 1; item 2: 3 (unknown)
    # and 0 not -> 0; item 3: unknown artist, skipped
    assert same_artist_at_k(ids, artists, 2) == (pytest.approx(0.5), 3)
    assert same_artist_at_k(ids, artists, 1) == (pytest.approx(2 / 3), 3)
    assert np.isnan(same_artist_at_k(ids, np.full(4, -1), 2)[0]) and same_artist_at_k(ids, np.full(4, -1), 2)[1] == 0
    with pytest.raises(ValueError, match="3 artists for 4 items"):
        same_artist_at_k(ids, artists[:3], 2)


def test_same_artist_at_k_matches_a_brute_force_loop():
    rng = np.random.default_rng(5)
    n, k = 60, 7
    artists = rng.integers(-1, 8, n)
    ids = np.stack([rng.choice(np.delete(np.arange(n), i), 9, replace=False) for i in range(n)])
    ids[rng.random(ids.shape) < 0.15] = -1
    shares = []
    for i in range(n):
        row = [j for j in ids[i, :k] if j >= 0]
        if artists[i] < 0 or not row:
            continue
        shares.append(sum(artists[j] == artists[i] for j in row) / len(row))
    got, n_eval = same_artist_at_k(ids, artists, k)
    assert n_eval == len(shares) and got == pytest.approx(np.mean(shares))


# --------------------------------------------------------------------------- KNN exclude_same_artist
def test_knn_exclude_same_artist_hand_worked():
    # item 0's neighbours: 1 (its own artist A), 2 (B), 3 (unknown); user 0 thumbed 1 up, 2 down, 3 up.
    # item 4 (artist B) has only neighbour 2, by B too.
    nb = Neighbours(np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [2, -1, -1]]),
                    np.array([[0.9, 0.5, 0.4]] * 4 + [[0.8, 0.0, 0.0]]), 0.0)
    items = pd.DataFrame({"item_id": list("abcde"), "artist": ["A", "A", "B", "", "B"]})
    train = pd.DataFrame({"user": [0, 0, 0], "item": [1, 2, 3], "thumb": [1, 0, 1]})
    test = pd.DataFrame({"user": [0, 0], "item": [0, 4]})
    ctx = Context(1, 5, nb, items=items)
    plain = KNNScorer(k=3, shrinkage=0.0).fit(train, ctx).score(test)
    np.testing.assert_allclose(plain.scores, [(0.9 - 0.5 + 0.4) / 1.8, -1.0])
    excl = KNNScorer(k=3, shrinkage=0.0, exclude_same_artist=True).fit(train, ctx).score(test)
    np.testing.assert_allclose(excl.scores, [(-0.5 + 0.4) / 0.9, 0.0])  # item 4: nothing left to vote
    assert excl.covered.tolist() == [True, False]


def test_knn_exclude_same_artist_fails_loudly_without_artists():
    nb = Neighbours(np.array([[1], [0]]), np.array([[1.0], [1.0]]), 0.0)
    train = pd.DataFrame({"user": [0], "item": [0], "thumb": [1]})
    sc = KNNScorer(k=1, exclude_same_artist=True)
    for items in (None, pd.DataFrame({"item_id": ["a", "b"]})):
        with pytest.raises(ValueError, match="KNNScorer: exclude_same_artist=true needs item artists.*has none"):
            sc.fit(train, Context(1, 2, nb, items=items))
    with pytest.raises(ValueError, match="naming at least one artist"):
        sc.fit(train, Context(1, 2, nb, items=pd.DataFrame({"item_id": ["a", "b"], "artist": ["", " "]})))
    with pytest.raises(ValueError, match="KNNScorer: exclude_same_artist must be true or false"):
        KNNScorer(k=1, exclude_same_artist="yes").fit(train, Context(1, 2, nb))


# --------------------------------------------------------------------------- the planted confound
def write_artist_folder(root: Path, n_artists: int = 40, per_artist: int = 4, n_users: int = 80,
                        artists_per_user: int = 10, seed: int = 0) -> Path:
    """Albums of one artist share a cover (a random 4x4 gray pattern, plus a little noise per
    album); each user thumbs every album of ``artists_per_user`` artists, up for the half of
    them they like. Thumbs depend on the artist only: nothing in a cover predicts them except
    which artist it is."""
    rng = np.random.default_rng(seed)
    (root / "covers").mkdir(parents=True)
    rows_items, rows_thumbs = [], []
    for a in range(n_artists):
        pattern = np.kron(rng.integers(0, 256, (4, 4)), np.ones((8, 8)))
        for j in range(per_artist):
            img = np.clip(pattern + rng.normal(0, 4, pattern.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img, "L").save(root / "covers" / f"a{a:02d}_{j}.png")
            rows_items.append((f"a{a:02d}_{j}", f"Artist {a:02d}"))
    for u in range(n_users):
        chosen = rng.choice(n_artists, artists_per_user, replace=False)
        likes = rng.permutation(np.arange(artists_per_user) < artists_per_user // 2)
        for a, up in zip(chosen, likes):
            rows_thumbs += [(f"u{u:03d}", f"a{a:02d}_{j}", int(up)) for j in range(per_artist)]
    pd.DataFrame(rows_items, columns=["item_id", "artist"]).to_csv(root / "items.csv", index=False)
    pd.DataFrame(rows_thumbs, columns=["user_id", "item_id", "thumb"]).to_csv(root / "thumbs.csv", index=False)
    return root


@pytest.fixture(scope="module")
def confound(tmp_path_factory):
    """The confounded catalogue, its normalised pixel features and their exact 8 neighbours."""
    ds = FolderDataset(str(write_artist_folder(tmp_path_factory.mktemp("artists")))).load()
    ex = PixelFeatures(16, "gray")
    Xn = RowZScore().fit_transform(ex.transform(ds.covers.decode(range(ds.n_items), 16, "gray", 1)[0]))
    return ds, Xn, ExactIndex("angular").build(Xn).neighbours(8)


def knn_metrics(confound, splitter, exclude: bool) -> dict[str, float]:
    ds, Xn, nb = confound
    split = splitter.split(with_artists(ds.thumbs, ds.artists()))  # as covers.pipeline does
    ctx = Context(ds.n_users, ds.n_items, neighbours=nb, features=Xn, items=ds.items)
    scores = score_methods(KNNScorer(k=8, shrinkage=0.0, exclude_same_artist=exclude), {}, split, ctx, {})
    return summarise(scores, None, n_boot=200, seed=0)[0]


def test_planted_confound_the_neighbours_are_the_artist(confound):
    ds, _, nb = confound
    # every album's 3 nearest covers are its artist's other 3 albums: 3 of 8 neighbours
    assert same_artist_at_k(nb.ids, ds.artists(), 8) == (pytest.approx(3 / 8), ds.n_items)
    assert (ds.artists()[nb.ids[:, :3]] == ds.artists()[:, None]).all()


def test_planted_confound_knn_works_only_through_the_artist(confound):
    warm = knn_metrics(confound, UserHoldout(test_frac=0.2, seed=0), exclude=False)
    assert warm["user_auc"] > 0.9 and warm["user_auc_lo"] > 0.8  # "works": the siblings vote
    other = knn_metrics(confound, UserHoldout(test_frac=0.2, seed=0), exclude=True)
    assert other["user_auc_lo"] <= 0.5 <= other["user_auc_hi"]  # other artists' albums: chance
    assert warm["user_auc"] - other["user_auc"] > 0.3
    cold = knn_metrics(confound, ColdArtists(artist_frac=0.3, seed=0), exclude=False)
    assert cold["user_auc_lo"] <= 0.5 <= cold["user_auc_hi"]  # no sibling in train: chance
    # cold_items leaves the siblings in train, so the confound still "works" there
    assert knn_metrics(confound, ColdItems(item_frac=0.2, seed=0), exclude=False)["user_auc"] > 0.9


@pytest.mark.slow
def test_pipeline_logs_same_artist_and_runs_both_artist_options(tmp_path, confound):
    from covers.app.task import run_job

    ds = confound[0]
    base = ["dataset=folder", f"dataset.path={ds.root}", "index=exact", "baselines=none", "scorer.k=8",
            "scorer.shrinkage=0.0"]
    m = run_job(compose(tmp_path / "a", base), out_dir=tmp_path / "a" / "out")["metrics"]
    # logged at eval.recall_k (10), next to genre precision: 3 siblings among 10 neighbours
    assert m["same_artist_at_10"] == pytest.approx(3 / 10) and m["same_artist_items"] == ds.n_items
    assert m["user_auc"] > 0.9
    for extra in (["scorer.exclude_same_artist=true"], ["split=cold_artists", "split.artist_frac=0.3"]):
        s = run_job(compose(tmp_path / "b", base + extra), out_dir=tmp_path / "b" / "out")
        assert s["status"] == "FINISHED" and s["metrics"]["user_auc_lo"] <= 0.5 <= s["metrics"]["user_auc_hi"], extra
