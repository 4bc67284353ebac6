"""The "cover world": a seeded synthetic catalogue of album covers and thumbs.

It is the harness's embedded default dataset. :func:`generate_world` writes it
in the same folder format as a real catalogue, so the ordinary loader reads it::

    DIR/covers/<item_id>.png   RGB covers (image_size x image_size); none in a procedural
                               world (``store_covers``), whose covers are drawn on demand
    DIR/items.csv              item_id, genre, style, quality, popularity (+ substyle,
                               cover_substyle, artist when those features are planted)
    DIR/thumbs.csv             user_id, item_id, thumb, timestamp, true_score
    DIR/world.json             generator version, parameters, counts

The model
---------
*Items.* Each album has a true ``genre`` (balanced: every block of
``n_genres`` consecutive items holds each genre once, in a random order), a
latent ``quality`` ~ N(0, 1) and a ``popularity`` = exp(popularity_sigma * z)
where z is correlated with quality (``quality_popularity_corr``). A fraction
``off_style`` of covers is drawn in the visual ``style`` of another genre
(chosen uniformly); the others are drawn in their own genre's style.

*Covers.* :func:`render_cover` draws one of the :data:`STYLES`. Cover i is
drawn from its own generator :func:`cover_rng` (seed, i), and item attributes
come in fixed 1024-item chunks, so item i (and its pixels) is the same whatever
the number of items and whatever the rendering order.

*Users.* User u has a genre mixture theta_u ~ Dirichlet(concentration), a
generosity bias b_u ~ N(0, bias_sd) and an activity k_u (number of albums they
are exposed to) ~ mean_thumbs_per_user * lognormal(activity_sigma), clipped to
[min_thumbs, n_items]. Their preference for genre g is the per-user-centred
``pref[u, g] = log(1 + G theta_ug) - mean_g' log(1 + G theta_ug')``.

*Exposure.* User u sees k_u distinct albums sampled without replacement with
weights popularity_i ** popularity_exponent * (1 + exposure_pref * G theta_u,g(i))
(Gumbel top-k, vectorised), in a random order with increasing timestamps.

*Thumbs.* ``true_score = signal * pref[u, g(i)] + quality_weight * quality_i +
b_u + offset`` and ``thumb ~ Bernoulli(sigmoid(true_score + noise * N(0, 1)))``.
With ``signal = quality_weight = 0`` the thumbs depend only on the user
(bias + noise) and are independent of the covers; a large ``signal`` makes the
genre (hence, through the style, the cover) highly predictive.

*Planted within-genre signals* (:mod:`covers.data._planted`, drawn by
:mod:`covers.data._motifs`; every default is off and leaves the world, its files and its
``world.json`` exactly as they were, because their draws come from streams of their own):

- ``substyle_signal`` (0): each album has a ``substyle`` in {0, 1}; user u has a taste d[u, g] ~
  N(0, 1) per genre, and ``true_score`` gains ``substyle_signal * d[u, g] * (2 substyle - 1)``, so
  within one user and genre the thumbs vary (the oracle's per-genre AUC exceeds 0.5);
- ``cover_signal_by_genre`` (null: no marker drawn), e.g. ``{minimal-techno: 1.0, default: 0.0}``:
  per genre, the probability that the cover shows the album's own sub-style; otherwise it shows a
  coin-flip decoy (items.csv ``cover_substyle``), so at 0 the cover's look is independent of the
  sub-style and a cover method's per-genre AUC stays at 0.5;
- ``substyle_visual`` (coarse | texture): the marker is a half-cover brightness layout (16x16
  pixels see it) or fine horizontal-vs-vertical stripes whose local mean is the same for both
  sub-styles (16x16 pixels average them away; GIST's oriented filters see them);
- ``albums_per_artist`` (0: no artists): artists own runs of geometric(1/m) albums of one genre
  (items.csv ``artist``, "r000042"); ``artist_signal`` (0) adds a rank-8 user x artist taste
  z_u . w_a / sqrt(8) times it; ``artist_visual`` (0, in [0, 1]) blends the artist's tint, frame
  and corner badge into each of their covers.

Only ``n_genres <= len(STYLES)`` (8) is supported: more genres than distinct
styles would make some genres visually indistinguishable, so it raises.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from covers.data import _motifs, _planted
from covers.data._styles import MIN_SIZE, STYLES, render

__all__ = [
    "GENERATOR_VERSION", "STORE_COVERS_MAX", "STYLES", "WorldMismatchError", "cover_rng", "render_cover",
    "render_item_cover", "make_items", "simulate_thumbs", "generate_world", "preview_grid",
]

#: bump whenever the output for the same parameters changes.
#: 2: worlds with n_users x n_items > EXPOSURE_DENSE_MAX draw exposures by sequential sampling
#:    (same distribution, other random numbers); smaller worlds are byte-identical to version 1.
#:    Worlds may be procedural (``store_covers=False``: no cover files).
GENERATOR_VERSION = "cover-world/2"

#: ``store_covers=None`` (auto) writes cover PNGs up to this many items; bigger worlds are
#: procedural: covers are rendered on demand (``render_item_cover``), deterministic per item.
STORE_COVERS_MAX = 20_000
#: up to this many (user, item) pairs, exposure is sampled by a dense Gumbel top-k over all
#: items per user; above it by sequential weighted sampling (O(thumbs), not O(users x items))
EXPOSURE_DENSE_MAX = 500_000_000

_CHUNK = 1024            # item attributes are drawn per chunk of this many items
_BASE_TIME = 1_388_534_400  # 2014-01-01T00:00:00Z, the seed experiment's year
# stream tags (SeedSequence spawn keys) keeping the random streams independent
_COVER, _ITEMS, _USERS, _FALLBACK, _PREVIEW = 1, 2, 3, 4, 5


class WorldMismatchError(ValueError):
    """An existing world folder was generated with different parameters."""


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _check_seed(seed: Any) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def cover_rng(seed: int, index: int) -> np.random.Generator:
    """The generator cover number ``index`` of world ``seed`` is drawn from."""
    return _rng(_check_seed(seed), _COVER, int(index))


def render_cover(style: str, rng: np.random.Generator, size: int = 128) -> Image.Image:
    """Draw one RGB cover in ``style`` (one of :data:`STYLES`)."""
    return render(style, rng, size)


def render_item_cover(seed: int, index: int, style: str, size: int = 128, *, cover_substyle: int = -1,
                      artist: str | int | None = None, substyle_visual: str = "coarse",
                      artist_visual: float = 0.0) -> Image.Image:
    """Cover ``index`` of the world with ``seed`` (same pixels as on disk).

    The planted overlays take the item's ``cover_substyle`` and ``artist`` (items.csv; -1 / None:
    none) and the world's ``substyle_visual`` and ``artist_visual`` (world.json)."""
    img = render(style, cover_rng(seed, index), size)
    if cover_substyle is not None and int(cover_substyle) >= 0:
        img = _motifs.draw_substyle(img, substyle_visual, int(cover_substyle))
    if artist is not None and artist_visual > 0:
        img = _motifs.draw_artist(img, _rng(_check_seed(seed), _planted.LOOK, _planted.artist_index(artist)),
                                  artist_visual)
    return img


# --------------------------------------------------------------------------- items
def make_items(n_items: int, n_genres: int = 8, off_style: float = 0.2, seed: int = 0, *,
               popularity_sigma: float = 1.0, quality_popularity_corr: float = 0.5, substyles: bool = False,
               cover_signal_by_genre: dict[str, float] | None = None, albums_per_artist: float = 0.0) -> pd.DataFrame:
    """Item table: ``item_id, genre, style, quality, popularity`` and, when planted, ``substyle``
    (``substyles`` or a ``cover_signal_by_genre``), ``cover_substyle`` (the marker the cover
    shows: with a ``cover_signal_by_genre``) and ``artist`` (``albums_per_artist > 0``).

    Item i depends only on (seed, n_genres, off_style, the popularity
    parameters, the planted parameters, i): a world with more items extends a smaller one.
    """
    seed = _check_seed(seed)
    if not isinstance(n_items, (int, np.integer)) or n_items < 1:
        raise ValueError(f"n_items must be a positive int, got {n_items!r}")
    if not isinstance(n_genres, (int, np.integer)) or n_genres < 1:
        raise ValueError(f"n_genres must be a positive int, got {n_genres!r}")
    if n_genres > len(STYLES):
        raise ValueError(
            f"n_genres={n_genres} but the cover world only has {len(STYLES)} distinct styles "
            f"({', '.join(STYLES)}); use n_genres <= {len(STYLES)}")
    if not 0.0 <= off_style <= 1.0:
        raise ValueError(f"off_style must be in [0, 1], got {off_style!r}")
    if off_style > 0 and n_genres < 2:
        raise ValueError("off_style > 0 needs at least 2 genres (there is no other style to draw)")
    if popularity_sigma < 0 or not -1.0 <= quality_popularity_corr <= 1.0:
        raise ValueError("popularity_sigma must be >= 0 and quality_popularity_corr in [-1, 1]")
    n_items, n_genres = int(n_items), int(n_genres)
    rho = float(quality_popularity_corr)
    parts = []
    for c in range(math.ceil(n_items / _CHUNK)):
        rng = _rng(seed, _ITEMS, c)
        genre = np.concatenate([rng.permutation(n_genres)
                                for _ in range(math.ceil(_CHUNK / n_genres))])[:_CHUNK]
        off = rng.random(_CHUNK) < off_style
        other = rng.integers(0, max(1, n_genres - 1), _CHUNK)
        style = np.where(off, other + (other >= genre), genre)
        quality = rng.standard_normal(_CHUNK)
        z = rho * quality + math.sqrt(1.0 - rho * rho) * rng.standard_normal(_CHUNK)
        parts.append((genre, style, quality, np.exp(popularity_sigma * z)))
    genre, style, quality, popularity = (np.concatenate(p)[:n_items] for p in zip(*parts))
    names = np.asarray(STYLES[:n_genres], dtype=object)
    items = pd.DataFrame({
        "item_id": [f"a{i:06d}" for i in range(n_items)],
        "genre": names[genre],
        "style": names[style],
        "quality": np.round(quality, 6),
        "popularity": np.round(popularity, 6),
    })
    planted = _planted.check(STYLES[:n_genres], substyle_signal=1.0 if substyles else 0.0,
                             cover_signal_by_genre=cover_signal_by_genre, albums_per_artist=albums_per_artist)
    for col, vals in _planted.item_columns(seed, genre, STYLES[:n_genres], planted).items():
        items[col] = vals
    return items


# --------------------------------------------------------------------------- users & thumbs
def simulate_thumbs(items: pd.DataFrame, *, n_users: int = 600, mean_thumbs_per_user: float = 50,
                    seed: int = 0, signal: float = 2.0, quality_weight: float = 0.7,
                    noise: float = 0.5, bias_sd: float = 0.8, offset: float = -0.6,
                    concentration: float = 0.5, exposure_pref: float = 1.0,
                    popularity_exponent: float = 1.0, activity_sigma: float = 0.7,
                    min_thumbs: int = 5, substyle_signal: float = 0.0, artist_signal: float = 0.0) -> pd.DataFrame:
    """Synthetic users' thumbs on ``items`` (see the module docstring for the model).

    ``items`` needs ``item_id`` and ``genre`` only, so any labelled cover folder
    works; ``quality``/``popularity`` are used when present, else drawn from
    ``seed``. ``substyle_signal`` needs a ``substyle`` column and ``artist_signal`` an ``artist``
    one. Returns ``user_id, item_id, thumb, timestamp, true_score`` sorted by user then time.
    """
    seed = _check_seed(seed)
    for col in ("item_id", "genre"):
        if col not in items.columns:
            raise ValueError(f"simulate_thumbs: items needs an {col!r} column, has {list(items.columns)}")
    if items["genre"].isna().any():
        raise ValueError("simulate_thumbs: some items have no genre")
    n = len(items)
    if n == 0:
        raise ValueError("simulate_thumbs: no items")
    ids = items["item_id"].astype(str).to_numpy()
    if len(set(ids)) != n:
        raise ValueError("simulate_thumbs: item_id values are not unique")
    if n_users < 1 or mean_thumbs_per_user <= 0 or min_thumbs < 1:
        raise ValueError("n_users, mean_thumbs_per_user and min_thumbs must be positive")
    if concentration <= 0 or noise < 0 or bias_sd < 0 or activity_sigma < 0 or exposure_pref < 0:
        raise ValueError("concentration must be > 0; noise, bias_sd, activity_sigma, "
                         "exposure_pref must be >= 0")
    labels, gidx = np.unique(items["genre"].astype(str).to_numpy(), return_inverse=True)
    G = len(labels)

    fb = _rng(seed, _FALLBACK)
    q_fallback, pop_fallback = fb.standard_normal(n), np.exp(fb.standard_normal(n))
    quality = (items["quality"].to_numpy(float) if "quality" in items.columns else q_fallback)
    pop = (items["popularity"].to_numpy(float) if "popularity" in items.columns else pop_fallback)
    if not (np.isfinite(quality).all() and np.isfinite(pop).all() and (pop > 0).all()):
        raise ValueError("simulate_thumbs: quality must be finite and popularity finite and > 0")

    rng = _rng(seed, _USERS)
    theta = rng.dirichlet(np.full(G, float(concentration)), size=n_users)
    pref = np.log1p(G * theta)
    pref -= pref.mean(axis=1, keepdims=True)
    bias = rng.normal(0.0, bias_sd, n_users)
    act = mean_thumbs_per_user * np.exp(activity_sigma * rng.standard_normal(n_users)
                                        - activity_sigma ** 2 / 2)
    k = np.clip(np.rint(act), min(min_thumbs, n), n).astype(np.int64)

    # exposure: weighted sampling without replacement, per user
    logpop = popularity_exponent * np.log(pop)
    logpref = np.log1p(exposure_pref * G * theta)
    if n_users * n <= EXPOSURE_DENSE_MAX:
        u, i = _exposure_gumbel(rng, k, logpop, logpref, gidx)
    else:
        u, i = _exposure_sequential(rng, k, logpop, logpref, gidx)
    order = np.lexsort((rng.random(len(u)), u))  # random listening order within each user
    u, i = u[order], i[order]

    true = signal * pref[u, gidx[i]] + quality_weight * quality[i] + bias[u] + offset
    if substyle_signal or artist_signal:  # their own streams: the draws below stay today's
        true = true + _planted.taste(seed, items, n_users, gidx, u, i,
                                     _planted._real("substyle_signal", substyle_signal),
                                     _planted._real("artist_signal", artist_signal))
    p = 1.0 / (1.0 + np.exp(-(true + noise * rng.standard_normal(len(u)))))
    thumb = (rng.random(len(u)) < p).astype(np.int64)

    first = np.r_[0, np.cumsum(k)[:-1]]
    gaps = 1 + np.floor(rng.exponential(2 * 86400.0, len(u))).astype(np.int64)
    cs = np.cumsum(gaps)
    start_t = _BASE_TIME + rng.integers(0, 365 * 86400, n_users)
    ts = start_t[u] + cs - cs[first][u]
    user_names = np.asarray([f"u{j:05d}" for j in range(n_users)], dtype=object)
    return pd.DataFrame({
        "user_id": user_names[u],
        "item_id": ids[i],
        "thumb": thumb,
        "timestamp": ts.astype(np.int64),
        "true_score": np.round(true, 6),
    })


def _exposure_gumbel(rng: np.random.Generator, k: np.ndarray, logpop: np.ndarray, logpref: np.ndarray,
                     gidx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel top-k over every item for every user (dense: O(n_users x n_items))."""
    n, n_users = len(logpop), len(k)
    step = max(1, 4_000_000 // n)
    users, its = [], []
    for start in range(0, n_users, step):
        ks = k[start:start + step]
        m, kmax = len(ks), int(ks.max())
        keys = logpop[None, :] + logpref[start:start + m][:, gidx] + rng.gumbel(size=(m, n))
        top = (np.argpartition(-keys, kmax - 1, axis=1)[:, :kmax] if kmax < n
               else np.tile(np.arange(n), (m, 1)))
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
        rr, cc = np.nonzero(np.arange(kmax)[None, :] < ks[:, None])
        users.append(rr + start)
        its.append(top[rr, cc])
    return np.concatenate(users), np.concatenate(its)


def _exposure_sequential(rng: np.random.Generator, k: np.ndarray, logpop: np.ndarray, logpref: np.ndarray,
                         gidx: np.ndarray, max_rounds: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The same sampling without replacement as :func:`_exposure_gumbel`, in O(thumbs).

    Item i's weight for user u is pop_i^a * (1 + e G theta_u,g(i)) = w_i * c_u,g(i): draw a
    genre with probability c_ug * W_g (W_g = sum of w over genre g), then an item of that genre
    with probability w_i / W_g (inverse CDF on the genre's cumulative weights). Draws *with*
    replacement, keeping each user's first k_u distinct items in draw order, are exactly
    successive sampling without replacement (each kept draw is from the renormalised rest),
    i.e. the Plackett-Luce sample the Gumbel top-k gives. Users still short after the rounds
    (k_u close to n_items) fall back to the dense Gumbel top-k.
    """
    n, n_users = len(logpop), len(k)
    G = logpref.shape[1]
    w = np.exp(logpop - logpop.max())
    by_genre = np.argsort(gidx, kind="stable")
    cum = np.cumsum(w[by_genre])
    bounds = np.searchsorted(gidx[by_genre], np.arange(G + 1))  # genre g: by_genre[bounds[g]:bounds[g+1]]
    base = np.r_[0.0, cum][bounds[:-1]]
    Wg = np.r_[0.0, cum][bounds[1:]] - base
    pg = np.exp(logpref) * Wg[None, :]
    cg = np.cumsum(pg / pg.sum(1, keepdims=True), axis=1)
    keys = np.empty(0, np.int64)  # accepted (user * n + item), grouped by user in draw order
    have = np.zeros(n_users, np.int64)
    for _ in range(max_rounds):
        short = np.flatnonzero(have < k)
        if short.size == 0:
            break
        need = k[short] - have[short]
        uu = np.repeat(short, need + need // 8 + 2)
        g = (rng.random(len(uu))[:, None] > cg[uu]).sum(1).clip(0, G - 1)
        t = base[g] + rng.random(len(uu)) * Wg[g]
        pos = np.clip(np.searchsorted(cum, t, side="right"), bounds[g], bounds[g + 1] - 1)
        new = uu * n + by_genre[pos]
        allk = np.concatenate([keys, new])
        _, first = np.unique(allk, return_index=True)  # first occurrence: accepted ones come first
        first.sort()
        allk = allk[first]
        user = allk // n
        order = np.argsort(user, kind="stable")  # by user, draw order kept within a user
        allk, user = allk[order], user[order]
        start = np.searchsorted(user, np.arange(n_users))
        rank = np.arange(len(allk)) - start[user]
        keep = rank < k[user]
        keys = allk[keep]
        have = np.bincount(keys // n, minlength=n_users)
    short = np.flatnonzero(have < k)
    if short.size:
        keys = keys[~np.isin(keys // n, short)]
        su, si = _exposure_gumbel(rng, k[short], logpop, logpref[short], gidx)
        keys = np.sort(np.concatenate([keys, short[su] * n + si]), kind="stable")
        user = keys // n
        keys = keys[np.argsort(user, kind="stable")]
    return keys // n, keys % n


# --------------------------------------------------------------------------- the world folder
def _world_params(**kw: Any) -> dict[str, Any]:
    params = {"version": GENERATOR_VERSION}
    for key, val in kw.items():
        params[key] = int(val) if isinstance(val, (int, np.integer)) and not isinstance(val, bool) \
            else float(val)
    return params


def _existing_world(path: Path, params: dict[str, Any]) -> bool:
    """True if ``path`` holds a complete world with ``params``; False if free; raise otherwise."""
    if not path.exists():
        return False
    if path.is_dir() and not any(path.iterdir()):
        return False
    meta = path / "world.json"
    if not meta.is_file():
        raise FileExistsError(f"{path} exists but is not a generated cover world (no world.json); "
                              "remove it or choose another path")
    old = json.loads(meta.read_text()).get("params", {})
    if old != params:
        diff = {k: (old.get(k), params.get(k)) for k in sorted(set(old) | set(params))
                if old.get(k) != params.get(k)}
        raise WorldMismatchError(
            f"{path} holds a cover world generated with different parameters "
            f"(key: (on disk, requested)) {diff}; delete it or use another path")
    covers = path / "covers"
    if params.get("store_covers", 1) == 0:  # procedural: there are no cover files to count
        n_png = params["n_items"]
    else:
        n_png = sum(1 for e in os.scandir(covers) if e.name.endswith(".png")) if covers.is_dir() else 0
    if not ((path / "items.csv").is_file() and (path / "thumbs.csv").is_file()
            and n_png == params["n_items"]):
        raise FileExistsError(f"{path} has a world.json but is incomplete "
                              f"({n_png}/{params['n_items']} covers); delete it and regenerate")
    return True


def _remove_stale_tmp(path: Path) -> None:
    """Delete ``<name>.tmp-<pid>`` siblings left by generations whose process is gone."""
    if not path.parent.is_dir():
        return
    prefix = path.name + ".tmp-"
    for entry in path.parent.iterdir():
        if not entry.name.startswith(prefix) or not entry.name[len(prefix):].isdigit():
            continue
        pid = int(entry.name[len(prefix):])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:  # alive, owned by someone else
            pass


def cover_kwargs(items: pd.DataFrame, params: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What :func:`render_item_cover` needs beyond (seed, index, style, size): per item (from
    items.csv columns, in row order) and per world (from world.json parameters)."""
    per_item: dict[str, np.ndarray] = {}
    world: dict[str, Any] = {}
    if "cover_substyle" in items.columns:
        per_item["cover_substyle"] = pd.to_numeric(items["cover_substyle"]).to_numpy(np.int8)
        world["substyle_visual"] = params.get("substyle_visual", _planted.DEFAULTS["substyle_visual"])
    if params.get("artist_visual", 0.0) > 0:
        per_item["artist"] = np.array([_planted.artist_index(a) for a in items["artist"]], np.int64)
        world["artist_visual"] = params["artist_visual"]
    return per_item, world


def _render_covers(items: pd.DataFrame, out: Path, seed: int, size: int, progress: bool,
                   params: dict[str, Any]) -> None:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    rows = list(zip(items["item_id"], items["style"]))
    per_item, world = cover_kwargs(items, params)
    bar = tqdm(total=len(rows), desc="rendering covers", unit="cover", disable=not progress,
               file=sys.stderr) if tqdm else None
    t0 = time.perf_counter()
    for idx, (item_id, style) in enumerate(rows):
        extra = {k: v[idx] for k, v in per_item.items()}
        render_item_cover(seed, idx, style, size, **extra, **world).save(out / f"{item_id}.png", format="PNG",
                                                                          compress_level=1)
        if bar is not None:
            bar.update(1)
        elif progress and (idx + 1) % 1000 == 0:  # pragma: no cover
            print(f"rendered {idx + 1}/{len(rows)} covers ({time.perf_counter() - t0:.1f}s)",
                  file=sys.stderr)
    if bar is not None:
        bar.close()


def generate_world(path: str | os.PathLike, *, n_items: int = 3000, n_users: int = 600,
                   mean_thumbs_per_user: float = 50, n_genres: int = 8, off_style: float = 0.2,
                   image_size: int = 128, seed: int = 0, signal: float = 2.0,
                   quality_weight: float = 0.7, noise: float = 0.5, bias_sd: float = 0.8,
                   offset: float = -0.6, concentration: float = 0.5, exposure_pref: float = 1.0,
                   popularity_exponent: float = 1.0, activity_sigma: float = 0.7,
                   min_thumbs: int = 5, popularity_sigma: float = 1.0,
                   quality_popularity_corr: float = 0.5, substyle_signal: float = 0.0,
                   cover_signal_by_genre: dict[str, float] | None = None, substyle_visual: str = "coarse",
                   albums_per_artist: float = 0.0, artist_signal: float = 0.0, artist_visual: float = 0.0,
                   store_covers: bool | None = None, progress: bool = True) -> Path:
    """Write a cover world to ``path`` (atomically) and return ``path``.

    ``store_covers``: write every cover as ``covers/<item_id>.png`` (True), or nothing (False:
    a *procedural* world, whose covers are rendered on demand by :func:`render_item_cover`, pixel
    for pixel what the PNG would hold); None (default) stores them up to
    :data:`STORE_COVERS_MAX` items. A procedural world records ``store_covers: 0`` in its
    ``world.json`` parameters; ``items.csv`` and ``thumbs.csv`` are written either way.

    Generation happens in ``<path>.tmp-<pid>`` and is moved into place with
    :func:`os.replace`, so an interrupted run never leaves something that looks
    like a world. The planted parameters (module docstring) are recorded in ``world.json`` only
    when they differ from their defaults, so a world without them keeps its identity. If ``path`` already holds a world with the same parameters it
    is returned as is; different parameters raise :class:`WorldMismatchError`.
    """
    path = Path(path)
    seed = _check_seed(seed)
    if not isinstance(image_size, (int, np.integer)) or image_size < MIN_SIZE:
        raise ValueError(f"image_size must be an int >= {MIN_SIZE}, got {image_size!r}")
    item_kw = dict(popularity_sigma=popularity_sigma, quality_popularity_corr=quality_popularity_corr)
    thumb_kw = dict(n_users=n_users, mean_thumbs_per_user=mean_thumbs_per_user, signal=signal,
                    quality_weight=quality_weight, noise=noise, bias_sd=bias_sd, offset=offset,
                    concentration=concentration, exposure_pref=exposure_pref,
                    popularity_exponent=popularity_exponent, activity_sigma=activity_sigma,
                    min_thumbs=min_thumbs)
    genres = STYLES[:n_genres] if isinstance(n_genres, (int, np.integer)) else STYLES  # bad ones: make_items says
    planted = _planted.check(genres, substyle_signal=substyle_signal,
                             cover_signal_by_genre=cover_signal_by_genre, substyle_visual=substyle_visual,
                             albums_per_artist=albums_per_artist, artist_signal=artist_signal,
                             artist_visual=artist_visual)
    if planted["cover_signal_by_genre"] is not None:
        _motifs.check_visual(planted["substyle_visual"], int(image_size))
    if store_covers is None:
        store_covers = n_items <= STORE_COVERS_MAX
    params = _world_params(n_items=n_items, n_genres=n_genres, off_style=off_style,
                           image_size=image_size, seed=seed, **item_kw, **thumb_kw)
    params.update(_planted.non_default(planted))  # absent when off: old worlds keep their parameters
    if not store_covers:  # stored worlds keep the parameters (and so the identity) they always had
        params["store_covers"] = 0
    if _existing_world(path, params):
        return path

    _remove_stale_tmp(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        items = make_items(n_items, n_genres, off_style, seed, **item_kw,
                           substyles=_planted.has_substyles(planted),
                           cover_signal_by_genre=planted["cover_signal_by_genre"],
                           albums_per_artist=planted["albums_per_artist"])
        if store_covers:
            (tmp / "covers").mkdir()
            _render_covers(items, tmp / "covers", seed, int(image_size), progress, params)
        thumbs = simulate_thumbs(items, seed=seed, **thumb_kw, substyle_signal=planted["substyle_signal"],
                                 artist_signal=planted["artist_signal"])
        items.to_csv(tmp / "items.csv", index=False)
        thumbs.to_csv(tmp / "thumbs.csv", index=False)
        per_genre = {
            g: {"items": int((items["genre"] == g).sum()),
                "on_style": int(((items["genre"] == g) & (items["style"] == g)).sum())}
            for g in STYLES[:n_genres]}
        meta = {
            "generator": "covers.data.synthetic",
            "version": GENERATOR_VERSION,
            "params": params,
            "styles": list(STYLES[:n_genres]),
            "counts": {
                "items": len(items), "users": int(thumbs["user_id"].nunique()),
                "thumbs": len(thumbs), "up_rate": round(float(thumbs["thumb"].mean()), 6),
                "off_style_items": int((items["genre"] != items["style"]).sum()),
                "per_genre": per_genre,
                **({"artists": int(items["artist"].nunique())} if "artist" in items.columns else {}),
            },
            "files": {"covers": "covers/<item_id>.png" if store_covers else
                      "procedural: covers.data.synthetic.render_item_cover(seed, row of items.csv, style, image_size)",
                      "items": "items.csv", "thumbs": "thumbs.csv"},
        }
        (tmp / "world.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.replace(tmp, path)
        except OSError:
            # someone else finished the same world first (or path is occupied)
            if _existing_world(path, params):
                shutil.rmtree(tmp, ignore_errors=True)
                return path
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def preview_grid(n_per_style: int = 6, size: int = 128, seed: int = 0,
                 styles: tuple[str, ...] = STYLES) -> Image.Image:
    """A grid image: one row per style, ``n_per_style`` random covers each."""
    pad = 4
    grid = Image.new("RGB", (pad + n_per_style * (size + pad), pad + len(styles) * (size + pad)),
                     (128, 128, 128))
    for r, style in enumerate(styles):
        for c in range(n_per_style):
            img = render(style, _rng(seed, _PREVIEW, r, c), size)
            grid.paste(img, (pad + c * (size + pad), pad + r * (size + pad)))
    return grid


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Generate a synthetic cover world.")
    ap.add_argument("path", type=Path)
    ap.add_argument("--n-items", type=int, default=3000)
    ap.add_argument("--n-users", type=int, default=600)
    ap.add_argument("--n-genres", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--signal", type=float, default=2.0)
    ap.add_argument("--quality-weight", type=float, default=0.7)
    ap.add_argument("--preview", type=Path, help="also save a style preview grid here")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--store-covers", choices=("auto", "yes", "no"), default="auto",
                    help=f"write cover PNGs (auto: up to {STORE_COVERS_MAX} items; no: procedural world)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = generate_world(a.path, n_items=a.n_items, n_users=a.n_users, n_genres=a.n_genres,
                         seed=a.seed, signal=a.signal, quality_weight=a.quality_weight,
                         store_covers={"auto": None, "yes": True, "no": False}[a.store_covers],
                         progress=not a.no_progress)
    counts = json.loads((out / "world.json").read_text())["counts"]
    print(f"world at {out} in {time.perf_counter() - t0:.2f}s: {counts['items']} items, "
          f"{counts['users']} users, {counts['thumbs']} thumbs, up-rate {counts['up_rate']:.3f}")
    if a.preview:
        preview_grid(seed=a.seed, styles=STYLES[:a.n_genres]).save(a.preview)
        print(f"preview saved to {a.preview}")


if __name__ == "__main__":
    main()
