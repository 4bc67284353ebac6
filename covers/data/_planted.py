"""Within-genre signals the cover world can plant: sub-styles and artists (the items' columns and
the users' taste terms); :mod:`covers.data._motifs` draws them on the covers.

Every default leaves the world as it was: the draws come from their own random streams (spawn
keys the base world never uses), so switching a feature on changes nothing else, and a feature
that is off adds no column, no term and no parameter to ``world.json``.

*Sub-styles.* Album i has ``substyle`` in {0, 1} (a fair coin) and shows on its cover the
marker of ``cover_substyle``: its own sub-style with probability ``cover_signal_by_genre[genre]``,
else a fresh coin (a decoy: the cover's distribution is then the same whichever sub-style). User
u likes sub-style 1 of genre g by ``d[u, g] ~ N(0, 1)`` and the thumb's logit gains
``substyle_signal * d[u, g] * (2 substyle - 1)``: within one user and genre, taste now varies.

*Artists.* With ``albums_per_artist = m > 0`` each genre's albums, in item order, fall into runs of
geometric(1/m) length (mean m albums), one artist per run (all of an artist's albums share a
genre), named ``r<number>``. The logit gains ``artist_signal * z_u . w_a / sqrt(ARTIST_DIM)``
with z_u, w_a ~ N(0, I_8): a low-rank user x artist taste (variance artist_signal^2) that needs no
users x artists matrix, so it scales to a million items.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from covers.data._motifs import VISUALS

#: the planted features' parameters and the values that switch them off (today's world)
DEFAULTS: dict[str, Any] = {"substyle_signal": 0.0, "cover_signal_by_genre": None, "substyle_visual": "coarse",
                            "albums_per_artist": 0.0, "artist_signal": 0.0, "artist_visual": 0.0}
ARTIST_DIM = 8
_CHUNK = 1024  # as covers.data.synthetic: per-item draws come per chunk, so item i is the same at any n_items
# spawn keys of the streams, after covers.data.synthetic's 1-5
_SUBSTYLE, _ARTISTS, _TASTE, LOOK = 6, 7, 8, 9


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _real(name: str, v: Any, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not lo <= v <= hi \
            or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number in [{lo}, {hi}], got {v!r}")
    return float(v)


def check(genres: tuple[str, ...], substyle_signal: Any = 0.0, cover_signal_by_genre: Any = None,
          substyle_visual: str = "coarse", albums_per_artist: Any = 0.0, artist_signal: Any = 0.0,
          artist_visual: Any = 0.0) -> dict[str, Any]:
    """Validated parameters (numbers as float, the cover signal as a plain dict)."""
    out = {"substyle_signal": _real("substyle_signal", substyle_signal),
           "artist_signal": _real("artist_signal", artist_signal),
           "artist_visual": _real("artist_visual", artist_visual, 0.0, 1.0),
           "albums_per_artist": _real("albums_per_artist", albums_per_artist, 0.0)}
    if 0 < out["albums_per_artist"] < 1:
        raise ValueError(f"albums_per_artist must be 0 (no artists) or >= 1, got {albums_per_artist!r}")
    if substyle_visual not in VISUALS:
        raise ValueError(f"substyle_visual must be one of {VISUALS}, got {substyle_visual!r}")
    out["substyle_visual"] = substyle_visual
    if cover_signal_by_genre is not None:
        if not isinstance(cover_signal_by_genre, Mapping):
            raise ValueError("cover_signal_by_genre must be null or a mapping genre -> [0, 1] "
                             f"(key 'default' for the rest), got {cover_signal_by_genre!r}")
        unknown = set(map(str, cover_signal_by_genre)) - set(genres) - {"default"}
        if unknown:
            raise ValueError(f"cover_signal_by_genre: unknown genre(s) {sorted(unknown)}; the world's genres "
                             f"are {list(genres)} (or 'default')")
        cover_signal_by_genre = {str(k): _real(f"cover_signal_by_genre[{k}]", v, 0.0, 1.0)
                                 for k, v in sorted(cover_signal_by_genre.items(), key=lambda kv: str(kv[0]))}
    out["cover_signal_by_genre"] = cover_signal_by_genre
    if (out["artist_signal"] or out["artist_visual"]) and not out["albums_per_artist"]:
        raise ValueError("artist_signal and artist_visual need albums_per_artist > 0 (there are no artists)")
    return out


def non_default(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that differ from :data:`DEFAULTS` (what a world's identity records)."""
    return {k: v for k, v in params.items() if k in DEFAULTS and v != DEFAULTS[k]}


def has_substyles(p: dict[str, Any]) -> bool:
    return p["substyle_signal"] != 0 or p["cover_signal_by_genre"] is not None


def item_columns(seed: int, genre: np.ndarray, genres: tuple[str, ...], p: dict[str, Any]) -> dict[str, np.ndarray]:
    """The planted columns of items.csv for items with genre codes ``genre`` (items 0..n-1)."""
    n, cols = len(genre), {}
    if has_substyles(p):
        cs = p["cover_signal_by_genre"]
        shown_p = np.zeros(len(genres)) if cs is None else np.array(
            [cs.get(g, cs.get("default", 0.0)) for g in genres])
        sub, shown = np.empty(n, np.int64), np.empty(n, np.int64)
        for c in range(math.ceil(n / _CHUNK)):
            rng = _rng(seed, _SUBSTYLE, c)
            s, coin, decoy = rng.integers(0, 2, _CHUNK), rng.random(_CHUNK), rng.integers(0, 2, _CHUNK)
            lo, hi = c * _CHUNK, min(n, (c + 1) * _CHUNK)
            sub[lo:hi] = s[:hi - lo]
            shown[lo:hi] = np.where(coin[:hi - lo] < shown_p[genre[lo:hi]], s[:hi - lo], decoy[:hi - lo])
        cols["substyle"] = sub
        if cs is not None:  # no cover signal: nothing is drawn, no column to render from
            cols["cover_substyle"] = shown
    if p["albums_per_artist"]:
        cols["artist"] = artist_names(seed, genre, len(genres), p["albums_per_artist"])
    return cols


def artist_names(seed: int, genre: np.ndarray, n_genres: int, mean: float) -> np.ndarray:
    """Artist of each item: runs of geometric length over each genre's items in item order.

    An item's artist depends only on the items before it, so a bigger world extends a smaller one."""
    out = np.empty(len(genre), np.int64)
    for g in range(n_genres):
        where = np.flatnonzero(genre == g)
        cum, b = np.zeros(0, np.int64), 0
        while cum.size == 0 or cum[-1] < where.size:
            sizes = _rng(seed, _ARTISTS, g, b).geometric(1.0 / mean, _CHUNK)
            cum = np.concatenate([cum, (cum[-1] if cum.size else 0) + np.cumsum(sizes)])
            b += 1
        local = np.searchsorted(cum, np.arange(where.size), side="right")
        out[where] = local * n_genres + g
    return np.array([f"r{a:06d}" for a in out], dtype=object)


def artist_index(artist: str | int) -> int:
    """``"r000042"`` (an items.csv value) -> 42."""
    if isinstance(artist, (int, np.integer)):
        return int(artist)
    s = str(artist)
    if not (s[:1] == "r" and s[1:].isdigit()):
        raise ValueError(f"artist must look like 'r000042' (a generated world's), got {artist!r}")
    return int(s[1:])


def taste(seed: int, items: pd.DataFrame, n_users: int, gidx: np.ndarray, u: np.ndarray, i: np.ndarray,
          substyle_signal: float, artist_signal: float) -> np.ndarray:
    """The planted terms of each (u, i) thumb's logit (0 where the features are off)."""
    out = np.zeros(len(u))
    if substyle_signal:
        if "substyle" not in items.columns:
            raise ValueError("simulate_thumbs: substyle_signal needs a 'substyle' column in items")
        sign = 2.0 * pd.to_numeric(items["substyle"]).to_numpy(np.float64) - 1.0
        d = _rng(seed, _TASTE, 0).standard_normal((n_users, int(gidx.max()) + 1))
        out += substyle_signal * d[u, gidx[i]] * sign[i]
    if artist_signal:
        if "artist" not in items.columns:
            raise ValueError("simulate_thumbs: artist_signal needs an 'artist' column in items")
        codes, names = pd.factorize(items["artist"].astype(str), sort=True)
        z = _rng(seed, _TASTE, 1).standard_normal((n_users, ARTIST_DIM))
        w = np.concatenate([_rng(seed, _TASTE, 2, b).standard_normal((_CHUNK, ARTIST_DIM))
                            for b in range(math.ceil(len(names) / _CHUNK))])
        a = codes[i]
        for lo in range(0, len(u), 1 << 20):  # a million thumbs at a time: (thumbs x 8) stays small
            sl = slice(lo, lo + (1 << 20))
            out[sl] += artist_signal * np.einsum("td,td->t", z[u[sl]], w[a[sl]]) / math.sqrt(ARTIST_DIM)
    return out
