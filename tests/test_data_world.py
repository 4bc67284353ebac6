"""covers.data.world (dataset=synthetic): the SyntheticWorld part's parameters and cache key, stored
and procedural worlds with the same items, thumbs and pixels, and cheap procedural fingerprints."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covers.data.world import SyntheticWorld, default_n_users


def test_a_procedural_world_has_a_cheap_fingerprint_and_codes_that_agree(tmp_path):
    w = SyntheticWorld(n_items=30_000, n_users=None, mean_thumbs_per_user=20)  # > 20k: procedural by default
    assert w.store_covers is None and not w.stores_covers() and w.resolved_n_users() == 1200
    ds = w.load(tmp_path)
    assert not (ds.root / "covers").exists() and ds.n_items == 30_000 and ds.stats()["n_users"] == 1200
    again = w.load(tmp_path)  # the generated world is reused (its speed is benchmarks/bench_scale.py's)
    assert again.fingerprint == ds.fingerprint and again.root == ds.root
    assert ds.items["item_id"].is_monotonic_increasing
    assert ds.thumbs["item"].max() < 30_000 and (ds.items["item_id"].to_numpy()[ds.thumbs["item"]] == ds.thumbs["item_id"]).all()
    px, bad = ds.covers.decode([0, 12345, 29_999], 16, "gray", 1)
    assert not bad and px.shape == (3, 16, 16) and px.std() > 0


def test_procedural_world_has_the_stored_worlds_covers_items_and_thumbs(tmp_path):
    kw = dict(n_items=120, n_users=30, mean_thumbs_per_user=10, image_size=32)
    stored = SyntheticWorld(store_covers=True, **kw).load(tmp_path)
    proc = SyntheticWorld(store_covers=False, **kw).load(tmp_path)
    assert (stored.root / "covers").is_dir() and not (proc.root / "covers").exists()
    assert stored.root != proc.root and stored.fingerprint != proc.fingerprint
    pd.testing.assert_frame_equal(stored.items, proc.items, check_exact=True)
    pd.testing.assert_frame_equal(stored.thumbs, proc.thumbs, check_exact=True)
    for size, mode in ((16, "gray"), (32, "rgb"), (8, "rgb")):
        a, _ = stored.covers.decode(range(120), size, mode, 1)
        b, _ = proc.covers.decode(range(120), size, mode, 1)
        assert np.array_equal(a, b), (size, mode)
    assert proc.covers.describe(5).startswith("procedural cover #")
    again = SyntheticWorld(store_covers=False, **kw).load(tmp_path)
    assert again.fingerprint == proc.fingerprint  # deterministic, and cheap: no pixels hashed
    meta = json.loads((proc.root / "world.json").read_text())
    assert meta["params"]["store_covers"] == 0 and "store_covers" not in json.loads(
        (stored.root / "world.json").read_text())["params"]


def test_store_covers_default_and_users_scale_with_the_catalogue():
    from covers.data.synthetic import STORE_COVERS_MAX

    assert SyntheticWorld(n_items=3000).stores_covers() and not SyntheticWorld(n_items=STORE_COVERS_MAX + 1).stores_covers()
    assert SyntheticWorld(n_items=3000, store_covers=False).stores_covers() is False  # said explicitly: kept
    assert "store_covers" not in SyntheticWorld(n_items=3000).result_params()  # stored worlds keep their old keys
    assert SyntheticWorld(n_items=3000, store_covers=False).result_params()["store_covers"] is False
    assert default_n_users(3000) == 600 and default_n_users(1_000_000) == 40_000
    big = SyntheticWorld(n_items=100_000, n_users=None)
    assert big.n_users is None and big.resolved_n_users() == 4000 and big.result_params()["n_users"] == 4000


def test_parameters_are_stored_as_given_and_the_key_is_the_worlds():
    w = SyntheticWorld(n_items=500, n_users=None, seed=3, on_error="fail", signal=2.0)
    assert w.get_params() == {"n_items": 500, "n_users": None, "mean_thumbs_per_user": 50, "n_genres": 8,
                              "off_style": 0.2, "image_size": 128, "seed": 3, "store_covers": None,
                              "on_error": "fail", "signal": 2.0}  # **model back as keywords
    assert w.result_params() == {"n_items": 500, "n_users": 600, "mean_thumbs_per_user": 50, "n_genres": 8,
                                 "off_style": 0.2, "image_size": 128, "seed": 3, "model": {"signal": 2.0}}
    # on_error shapes no world: the same world (name) either way; n_users=None is the same as 600 here
    assert w.world_name() == SyntheticWorld(n_items=500, n_users=600, seed=3, signal=2.0).world_name()
    assert w.world_name() != SyntheticWorld(n_items=500, seed=3, signal=2.5).world_name()
    with pytest.raises(ValueError, match="SyntheticWorld: on_error"):
        SyntheticWorld(n_items=10, on_error="ignore").load("/nonexistent-never-written")  # checked before any work
    with pytest.raises(ValueError, match="paths.cache_dir"):
        SyntheticWorld(n_items=10).load(None)


def test_on_error_reaches_the_catalogue(tmp_path):
    kw = dict(n_items=40, n_users=10, mean_thumbs_per_user=8, image_size=16)
    assert SyntheticWorld(**kw).load(tmp_path).on_error == "skip"
    assert SyntheticWorld(on_error="fail", **kw).load(tmp_path).on_error == "fail"
