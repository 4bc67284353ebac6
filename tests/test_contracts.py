"""One contract test over every choice of every config group (scikit-learn's
``parametrize_with_checks``, for our parts): each is composed from the real conf/, instantiated
from its ``_target_``, run on a tiny world, and checked for its contract's shapes and dtypes,
determinism (twice -> identical), that it pickles (parallel launchers ship parts to workers),
and that bad parameters raise a clear ValueError naming the part.

A new part is one module + one yaml file + one line in ``BAD`` below (the test fails until the
line is there, so nobody forgets to say what a bad parameter of the new part is)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from conftest import CONF_DIR, compose
from covers.data.base import Catalogue, Dataset
from covers.features.base import FeatureExtractor
from covers.features.engines.base import Engine
from covers.index.base import Index, Neighbours
from covers.index.exact import ExactIndex
from covers.norm import Normaliser
from covers.scorers.base import Context, Scorer, Scores
from covers.split import Split, Splitter, with_artists

TINY = ["dataset.n_items=120", "dataset.n_users=40", "dataset.mean_thumbs_per_user=20", "dataset.image_size=32"]

#: per part class, parameters it must refuse with a ValueError naming it
BAD = {
    "SyntheticWorld": {"on_error": "ignore"},
    "FolderDataset": {"on_error": "maybe"},
    "PixelFeatures": {"size": 0},
    "GistFeatures": {"nblocks": 0},
    "RowZScore": {"eps": -1.0},
    "Normalizer": {"norm": "l7"},
    "FunctionTransformer": None,  # no parameter of it can be wrong for a matrix
    "StandardScaler": {"with_mean": "yes"},
    "PCA": {"n_components": -3},
    "AnnoyIndex": {"n_trees": 0},
    "ExactIndex": {"metric": "cosine"},
    "VoyagerIndex": {"metric": "manhattan"},  # a metric of METRICS it cannot serve: refused, naming itself
    "FaissIndex": {"metric": "manhattan"},
    "UserHoldout": {"test_frac": 1.5},
    "Temporal": {"min_thumbs": 1},
    "ColdItems": {"item_frac": 0.0},
    "ColdArtists": {"artist_frac": 1.0},
    "KNNScorer": {"k": 0},
    "CentroidScorer": {"chunk": 0},
    "RandomScorer": None,  # any seed is a seed
    "PopularityScorer": {"smoothing": -1.0},
    "UserMeanScorer": {"smoothing": -1.0},
    "ItemKNNCF": {"k": 0},
    "ALSScorer": {"factors": 0},
    "BPRScorer": {"iterations": 0},
    "ContentToCF": {"alpha": 0.0},
    "EASEScorer": {"lamb": 0.0},
    "VBPRScorer": {"epochs": 0},
    "HistoryKNN": {"k": 0},
    "OracleScorer": None,  # no parameters
    "LocalEngine": {"chunk_size": 0},
    "DaskEngine": {"transfer": "carrier-pigeon"},
}


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def part_configs(group: str):
    """(id, config node) of every choice of a group; for baselines, every baseline of every list."""
    if group == "baselines":
        seen = {}
        for c in choices("baselines"):
            for name, node in (compose(Path("/tmp/unused"), TINY + [f"baselines={c}"]).baselines or {}).items():
                seen[name] = node
        return sorted(seen.items())
    out = []
    for c in choices(group):
        folder = (group, c) == ("dataset", "folder")
        ov = ["dataset.path=/nowhere", f"{group}={c}"] if folder else TINY + [f"{group}={c}"]
        out.append((c, getattr(compose(Path("/tmp/unused"), ov), group)))
    return out


def make(node, **override):
    return instantiate(node, _convert_="all", **override)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny synthetic catalogue, its features (pixels), neighbours and split."""
    tmp = tmp_path_factory.mktemp("world")
    cfg = compose(tmp, TINY)
    ds = instantiate(cfg.dataset).load(cfg.paths.cache_dir)
    X = ds.covers.decode(range(ds.n_items), 16, "gray", 1)[0].reshape(ds.n_items, -1).astype(np.float32) / 255
    index = ExactIndex("angular").build(X)
    split = instantiate(cfg.split).split(ds.thumbs)
    return dict(ds=ds, X=X, nb=index.neighbours(200), split=split, cache=cfg.paths.cache_dir)


def assert_refuses(cls_name: str, node, build):
    assert cls_name in BAD, f"add {cls_name} to BAD in tests/test_contracts.py: which parameter value is wrong for it?"
    if BAD[cls_name] is None:
        return
    with pytest.raises(ValueError) as err:
        build(make(node, **BAD[cls_name]))
    param = list(BAD[cls_name])[0]
    assert cls_name in str(err.value) or param in str(err.value), str(err.value)  # says whose and what


def assert_stores(part, node):
    """``__init__`` only stores: every configured value comes back from get_params() as given."""
    from omegaconf import OmegaConf

    given = OmegaConf.to_container(node, resolve=True)
    got = part.get_params()
    for k, v in given.items():
        if not k.startswith("_") and not isinstance(v, dict):
            assert got[k] == v, (type(part).__name__, k, got[k], v)


def roundtrip(part):
    again = pickle.loads(pickle.dumps(part))
    assert type(again) is type(part)
    if hasattr(part, "result_params"):
        assert repr(again.result_params()) == repr(part.result_params())
    return again


# --------------------------------------------------------------------------- one test per group
@pytest.mark.parametrize("choice,node", part_configs("dataset"), ids=lambda v: v if isinstance(v, str) else "")
def test_dataset_contract(choice, node, world, planted_dir, tmp_path):
    overrides = {"path": str(planted_dir)} if choice == "folder" else {}
    part = make(node, **overrides)
    assert isinstance(part, Dataset)
    assert_stores(make(node), node)
    roundtrip(part)
    a, b = part.load(world["cache"]), roundtrip(part).load(world["cache"])
    assert isinstance(a, Catalogue) and a.fingerprint == b.fingerprint
    pd.testing.assert_frame_equal(a.thumbs, b.thumbs)
    assert {"user_id", "item_id", "thumb", "user", "item"} <= set(a.thumbs.columns)
    assert a.thumbs["item"].between(0, a.n_items - 1).all() and a.thumbs["thumb"].isin([0, 1]).all()
    assert len(a.covers) == a.n_items and a.on_error == part.on_error
    assert_refuses(type(part).__name__, node, lambda p: p.load(world["cache"]))


@pytest.mark.parametrize("choice,node", part_configs("features"), ids=lambda v: v if isinstance(v, str) else "")
def test_feature_extractor_contract(choice, node, world):
    ex = make(node, size=16)  # small covers keep GIST quick; size is every extractor's parameter
    assert isinstance(ex, FeatureExtractor)
    assert_stores(make(node), node)
    ds = world["ds"]
    pix = ds.covers.decode(range(12), ex.size, ex.mode, 1)[0]
    f1, f2 = ex.transform(pix), roundtrip(ex).transform(pix)
    assert f1.dtype == np.float32 and f1.shape == (12, ex.n_features()) and np.isfinite(f1).all()
    assert np.array_equal(f1, f2)
    assert np.array_equal(ex.transform(pix[3:7]), f1[3:7])  # row by row: batches never change a vector
    assert_refuses(type(ex).__name__, node, lambda p: p.transform(pix))


@pytest.mark.parametrize("choice,node", part_configs("norm"), ids=lambda v: v if isinstance(v, str) else "")
def test_normaliser_contract(choice, node, world):
    norm = make(node)
    assert isinstance(norm, Normaliser)
    assert_stores(norm, node)
    X = world["X"]
    a = np.asarray(make(node).fit_transform(X))
    b = np.asarray(roundtrip(make(node)).fit_transform(X))
    assert a.shape[0] == X.shape[0] and np.array_equal(a, b) and np.isfinite(a).all()
    assert_refuses(type(norm).__name__, node, lambda p: p.fit_transform(X))


@pytest.mark.parametrize("choice,node", part_configs("index"), ids=lambda v: v if isinstance(v, str) else "")
def test_index_contract(choice, node, world, tmp_path):
    idx = make(node)
    assert isinstance(idx, Index)
    assert_stores(idx, node)
    params = set(idx.param_names())
    assert set(idx.build_params) <= params and set(idx.query_params) <= params
    assert not set(idx.build_params) & set(idx.query_params)
    X = world["X"]
    a = idx.build(X).neighbours(7)
    b = roundtrip(make(node)).build(X).neighbours(7)
    assert isinstance(a, Neighbours) and a.ids.shape == (len(X), 7) and a.ids.dtype == np.int64
    assert a.sims.dtype == np.float64 and np.array_equal(a.ids, b.ids) and np.array_equal(a.sims, b.sims)
    assert (a.ids != np.arange(len(X))[:, None]).all()
    ids, dist = idx.query_rows(np.array([0, 5, 9]), 4)
    assert ids.shape == dist.shape == (3, 4) and ids.dtype == np.int64 and dist.dtype == np.float64
    assert np.array_equal(ids, a.ids[[0, 5, 9], :4])
    s_ids, s_dist = idx.search(X[[0, 5, 9]], 4)  # by vector, nothing excluded: the same shapes and types
    assert s_ids.shape == s_dist.shape == (3, 4) and s_ids.dtype == np.int64 and s_dist.dtype == np.float64
    assert np.array_equal(s_ids, idx.search(X[[0, 5, 9]], 4, n_threads=1)[0])  # threads never change an answer
    assert isinstance(idx.family(), str) and idx.family()
    if idx.file_suffix is not None:  # a saved index opens to the same answers
        path = tmp_path / f"i{idx.file_suffix}"
        make(node).build(X, path)
        assert np.array_equal(make(node).load(path, X).neighbours(7).ids, a.ids)
    else:
        with pytest.raises(TypeError):
            idx.load(tmp_path / "nothing", X)
    assert_refuses(type(idx).__name__, node, lambda p: p.build(X))


@pytest.mark.parametrize("choice,node", part_configs("split"), ids=lambda v: v if isinstance(v, str) else "")
def test_splitter_contract(choice, node, world):
    sp = make(node)
    assert isinstance(sp, Splitter)
    assert_stores(sp, node)
    ds = world["ds"]
    # as the pipeline passes them: with their item's artist (split=cold_artists reads it); a world
    # without artists gets three albums an artist, so that every splitter is exercised
    artists = ds.artists() if ds.artists() is not None else np.arange(ds.n_items) // 3
    thumbs = with_artists(ds.thumbs, artists)
    a, b = sp.split(thumbs), roundtrip(sp).split(thumbs)
    assert isinstance(a, Split)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.test, b.test)
    pairs = lambda t: set(zip(t["user"], t["item"]))  # noqa: E731
    assert not pairs(a.train) & pairs(a.test) and len(a.test) > 0
    assert_refuses(type(sp).__name__, node, lambda p: p.split(thumbs))


@pytest.mark.parametrize("group", ["scorer", "baselines"])
def test_scorer_contract(group, world):
    split, ds = world["split"], world["ds"]
    for choice, node in part_configs(group):
        sc = make(node)
        assert isinstance(sc, Scorer), choice
        assert_stores(sc, node)
        nb = world["nb"]
        assert nb.ids.shape[1] >= sc.neighbours_needed()
        ctx = Context(ds.n_users, ds.n_items, neighbours=nb, features=world["X"], items=ds.items)
        a = sc.fit(split.train, ctx).score(split.test)
        b = roundtrip(make(node)).fit(split.train, ctx).score(split.test)
        assert isinstance(a, Scores), choice
        assert a.scores.shape == (len(split.test),) and a.scores.dtype == np.float64, choice
        assert a.covered.dtype == bool and a.covered.shape == a.scores.shape, choice
        assert np.isfinite(a.scores).all() and np.array_equal(a.scores, b.scores), choice
        assert_refuses(type(sc).__name__, node, lambda p: p.fit(split.train, ctx))
        # eval.tune's grid names real parameters, and every point of it is a valid scorer
        from covers.evaluation.tuning import candidates, grid_of

        for c in candidates(sc, grid_of(sc)) if type(sc).tune_grid else []:
            c.check()


@pytest.mark.parametrize("choice,node", part_configs("engine"), ids=lambda v: v if isinstance(v, str) else "")
def test_engine_contract(choice, node, world, tmp_path):
    if choice == "dask":
        from conftest import need

        need("distributed", "cluster")
    from covers.features.extract import extract
    from covers.features.pixel import PixelFeatures

    assert_stores(make(node), node)
    eng = make(node, chunk_size=32)
    assert isinstance(eng, Engine) and all(p in eng.speed_param_names() for p in eng.param_names())
    roundtrip(eng)
    ds, ex = world["ds"], PixelFeatures(8, "gray")
    res = extract(ds.covers, ex, tmp_path / "f.npy", engine=eng, progress=False)
    ref = ex.transform(ds.covers.decode(range(ds.n_items), 8, "gray", 1)[0])
    assert res.computed_chunks == -(-ds.n_items // 32) and np.array_equal(np.load(res.path), ref)
    assert_refuses(type(eng).__name__, node, lambda p: extract(ds.covers, ex, tmp_path / "g.npy", engine=p,
                                                               progress=False))


def test_every_registered_part_has_a_bad_parameter_line():
    from hydra.utils import get_class

    names = set()
    for g in ("dataset", "features", "norm", "index", "split", "scorer", "baselines", "engine"):
        for _, node in part_configs(g):
            names.add(get_class(node["_target_"]).__name__)
    assert names == set(BAD), (names - set(BAD), set(BAD) - names)


def test_a_new_scorer_is_one_module_and_one_yaml(tmp_path, monkeypatch):
    """Nothing registers a part: a module on the path and a yaml file in its group are enough for
    the real pipeline to run it as the cover method (no edit anywhere in covers/)."""
    import shutil
    import sys

    from hydra import compose as h_compose
    from hydra import initialize_config_dir

    from covers.app.task import work

    (tmp_path / "toy_scorer.py").write_text(
        "import numpy as np\n"
        "from covers.scorers.base import Scorer, Scores\n\n"
        "class NeighbourCount(Scorer):\n"
        "    '''score = how many of the item's k neighbours the user thumbed up (toy).'''\n"
        "    def __init__(self, k: int = 5):\n"
        "        self.k = k\n"
        "    def check(self):\n"
        "        self._require_int('k')\n"
        "    def neighbours_needed(self):\n"
        "        return self.k\n"
        "    def fit(self, train, ctx):\n"
        "        self.check()\n"
        "        up = train[train['thumb'] > 0]\n"
        "        self.ups_ = set(zip(up['user'], up['item']))\n"
        "        self.nb_ = ctx.neighbours.ids[:, :self.k]\n"
        "        return self\n"
        "    def score(self, test):\n"
        "        s = np.array([sum((u, j) in self.ups_ for j in self.nb_[i]) for u, i in zip(test['user'], test['item'])],\n"
        "                     dtype=np.float64)\n"
        "        return Scores(s, s > 0)\n")
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "scorer" / "neighbour_count.yaml").write_text("_target_: toy_scorer.NeighbourCount\nk: 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = h_compose("config", TINY + ["scorer=neighbour_count", "baselines=simple", f"paths.cache_dir={tmp_path}/c",
                                          "eval.n_bootstrap=20", "eval.recall_queries=20", "index=exact"])
    from omegaconf import OmegaConf

    metrics, info, _ = work(OmegaConf.to_container(cfg, resolve=True), str(tmp_path / "out"))
    assert 0.0 <= metrics["user_auc"] <= 1.0 and 0.0 < metrics["coverage"] <= 1.0
    assert metrics["user_auc"] != metrics["user_auc_random"]
    assert "toy_scorer" in sys.modules
