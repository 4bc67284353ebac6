"""``dataset=synthetic``: the embedded cover world, generated once and then read like any folder.

Scale: ``dataset.n_items=1000000`` works. Worlds above ``STORE_COVERS_MAX`` (20k) items are
*procedural* by default (``store_covers: null``): no cover files are written, covers are drawn
on demand by :func:`covers.data.synthetic.render_item_cover` (deterministic per item: the same
pixels a stored PNG would give), items.csv and thumbs.csv are written as usual. ``n_users: null``
scales the users with the catalogue (:func:`default_n_users`: 600 up to 15k items, then one
user per 25 items, so ~2 thumbs per item at 50 thumbs per user: 40k users and ~2M thumbs at 1M
items). A procedural world's fingerprint hashes world.json, items.csv, thumbs.csv, the generator
version and the cover-drawing code, not rendered pixels, so it costs a second, not an hour.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from covers.cache import Cache, key_of
from covers.data._planted import DEFAULTS as PLANTED_DEFAULTS
from covers.data.base import Catalogue, Dataset, SkipReport
from covers.data.folder import FolderDataset

USERS_PER_ITEM = 1 / 25  #: n_users=None: this many users per item, at least 600


def default_n_users(n_items: int) -> int:
    return max(600, int(round(n_items * USERS_PER_ITEM)))


class SyntheticWorld(Dataset):
    """Generates the world into ``<cache_dir>/worlds/<key>`` (key = hash of these parameters)
    on first use, then loads it through the folder-format loader, so the synthetic and the real
    path share one reader (a procedural world: the same thumbs/items reader, covers drawn).

    ``**model`` (signal strengths, the planted sub-style and artist features etc.) goes to the
    generator as is; a planted feature's parameter at its default (off) stays out of the key, so
    listing it in the config keeps the world it always was. ``on_error`` applies to
    decoding the world's stored covers (a damaged PNG in the cache); it shapes no world, so it is
    not in the world's key."""

    def __init__(self, n_items: int = 3000, n_users: int | None = 600, mean_thumbs_per_user: int = 50,
                 n_genres: int = 8, off_style: float = 0.2, image_size: int = 128, seed: int = 0,
                 store_covers: bool | None = None, on_error: str = "skip", **model: float) -> None:
        self.n_items = n_items
        self.n_users = n_users
        self.mean_thumbs_per_user = mean_thumbs_per_user
        self.n_genres = n_genres
        self.off_style = off_style
        self.image_size = image_size
        self.seed = seed
        self.store_covers = store_covers
        self.on_error = on_error
        # a mapping value (cover_signal_by_genre) arrives as a DictConfig from Hydra: keep plain data
        self.model = {k: dict(v) if isinstance(v, Mapping) else v for k, v in model.items()}

    def get_params(self) -> dict:
        return {**super().get_params(), **self.model}  # **model: back to the keyword arguments it came from

    def resolved_n_users(self) -> int:
        return default_n_users(self.n_items) if self.n_users is None else self.n_users

    def stores_covers(self) -> bool:
        from covers.data.synthetic import STORE_COVERS_MAX

        return bool(self.n_items <= STORE_COVERS_MAX if self.store_covers is None else self.store_covers)

    def result_params(self) -> dict:
        """What the generated world depends on (its cache key; unchanged since worlds were first cached)."""
        p = {"n_items": self.n_items, "n_users": self.resolved_n_users(), "mean_thumbs_per_user": self.mean_thumbs_per_user,
             "n_genres": self.n_genres, "off_style": self.off_style, "image_size": self.image_size, "seed": self.seed,
             "model": {k: v for k, v in self.model.items()
                       if not (k in PLANTED_DEFAULTS and v == PLANTED_DEFAULTS[k])}}
        if not self.stores_covers():  # stored worlds keep the key they always had
            p["store_covers"] = False
        return p

    def world_name(self) -> str:
        from covers.data import synthetic

        key = key_of(self.result_params(), getattr(synthetic, "GENERATOR_VERSION", "1"))
        return f"synthetic-{self.n_items}-{key[:12]}"

    def path(self, cache_dir: str | Path | None) -> Path:
        if cache_dir is None:
            raise ValueError("the synthetic world needs paths.cache_dir to be generated into")
        return Cache(cache_dir).entry("worlds", self.world_name())

    def load(self, cache_dir: str | Path | None = None) -> Catalogue:
        from covers.data import synthetic

        self.check()
        path = self.path(cache_dir)
        # parallel sweep jobs share one world: the first generates it (into a temporary folder,
        # renamed into place), the others wait for the entry's lock and reuse it
        with Cache(cache_dir).locked("worlds", self.world_name()):
            synthetic.generate_world(
                path, n_items=self.n_items, n_users=self.resolved_n_users(), mean_thumbs_per_user=self.mean_thumbs_per_user,
                n_genres=self.n_genres, off_style=self.off_style, image_size=self.image_size, seed=self.seed,
                store_covers=self.stores_covers(), **self.model,
            )
        if self.stores_covers():
            ds = FolderDataset(str(path), on_error="fail", name="synthetic").load()  # generated rows are valid
        else:
            ds = load_procedural_world(path, name="synthetic")
        ds.on_error = self.on_error
        return ds


def load_procedural_world(path: str | Path, name: str = "synthetic") -> Catalogue:
    """A generated world without cover files, as the folder loader would give it with the
    covers present (same columns, dtypes and order: items sorted by id, thumbs in file order),
    with covers from :class:`~covers.data.sources.ProceduralCovers` (drawn on demand, pixel for
    pixel the PNG a stored world holds).

    The generator's output is valid by construction (no malformed, duplicate or unknown rows),
    so this reads it with typed ``read_csv`` calls and vectorised checks instead of the folder
    loader's row-by-row diagnostics: a million items and two million thumbs load in seconds.
    """
    from covers.data.sources import ProceduralCovers
    from covers.data.synthetic import STYLES, cover_kwargs, render_item_cover

    root = Path(path).expanduser().resolve()
    params = json.loads((root / "world.json").read_text())["params"]
    items = pd.read_csv(root / "items.csv", dtype=str, keep_default_na=False)
    thumbs = pd.read_csv(root / "thumbs.csv", dtype={"user_id": str, "item_id": str, "thumb": np.int8,
                                                     "timestamp": np.int64, "true_score": str},
                         keep_default_na=False)
    thumbs["true_score"] = pd.to_numeric(thumbs["true_score"]).astype(np.float64)  # as the folder loader parses it
    if len(items) != params["n_items"] or not items["item_id"].is_unique:
        raise ValueError(f"{root}/items.csv: expected {params['n_items']} unique item ids, found {len(items)} rows")
    gen_row = np.argsort(items["item_id"].to_numpy(dtype=object), kind="stable")  # loader order: sorted ids
    items = items.iloc[gen_row].reset_index(drop=True)
    codes = pd.Index(items["item_id"]).get_indexer(thumbs["item_id"])
    if (codes < 0).any() or thumbs.duplicated(["user_id", "item_id"]).any():
        raise ValueError(f"{root}/thumbs.csv: unknown items or repeated (user, item) pairs: not a generated world")
    thumbs["item"] = codes.astype(np.int64)
    user_codes, users = pd.factorize(thumbs["user_id"], sort=True)
    thumbs["user"] = user_codes.astype(np.int64)
    canon = {s: s for s in STYLES}  # one str object per style: the source pickles small
    styles = [canon.get(s, s) for s in items["style"].tolist()]
    per_item, world = cover_kwargs(items, params)  # planted overlays: the rows' markers and artists
    source = ProceduralCovers(render_item_cover, int(params["seed"]), styles, int(params["image_size"]),
                              indices=gen_row.tolist(), per_item=per_item, world=world)
    return Catalogue(name=name, root=root, items=items, thumbs=thumbs, covers=source,
                   fingerprint=procedural_fingerprint(root), skipped=SkipReport())


def procedural_fingerprint(root: str | Path) -> str:
    """Content hash of a procedural world: world.json, items.csv, thumbs.csv, the generator
    version and the source of the cover-drawing code (covers are a function of these)."""
    from covers.data import _motifs, _planted, _styles, images, synthetic

    root = Path(root)
    params = json.loads((root / "world.json").read_text())["params"]
    h = hashlib.blake2b(digest_size=16)
    h.update(b"procedural-world\0" + synthetic.GENERATOR_VERSION.encode())
    for name in ("world.json", "items.csv", "thumbs.csv"):
        h.update(name.encode())
        with open(root / name, "rb") as f:
            h.update(hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).digest())
    # the overlays' code only for worlds that draw them: the others keep the fingerprints (and so
    # the feature caches) they always had
    planted = (_motifs, _planted) if set(params) & set(_planted.DEFAULTS) else ()
    for mod in (_styles, images, *planted):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()
