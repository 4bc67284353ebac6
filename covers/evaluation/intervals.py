"""Intervals for user_auc, thumbs_auc and paired differences that are as wide as the truth.

Test thumbs are a crossed sample: users are drawn, albums are drawn, and each (user, album) thumb
carries its own noise. The variance of a mean over such an array has three parts (a user part, an
album part, and the cell's own noise). No single bootstrap reproduces all three (McCullagh 2000,
"Resampling and exchangeable arrays", Bernoulli 6(2)):

* resampling **users** alone counts the user part and the cell noise, and treats the album part
  as if every thumb had its own album: too narrow when albums recur across users;
* resampling **albums** alone counts the album part and the cell noise;
* resampling users *and* albums (the pigeonhole bootstrap, Owen 2007, Ann. Appl. Stat. 1(2))
  counts the cell noise twice. Here each album sits in ~3 users' test sets and a user's AUC over
  ~10 thumbs is mostly thumb noise, so the double count dominates: on 15 worlds with known truth
  its intervals were 1.5-1.9x too wide (issue #16).

The moment estimator used here keeps each part once: with the three one-way bootstraps (users
only, albums only, thumbs only, all on the same statistic),

    var = var_thumbs + max(var_users - var_thumbs, 0) + max(var_albums - var_thumbs, 0)

because each one-way variance is (its own part + the cell noise) and the thumbs-only one is the
cell noise alone: for a linear statistic over a crossed array this is exactly the sum of the three
parts (the method-of-moments reading of McCullagh's Theorem 1; Owen 2007 sec. 3 gives the same
decomposition of the pigeonhole bootstrap's bias). Each part is clipped at 0 so that sampling
error in a small part never makes the total smaller than the larger one-way bootstrap's.
Intervals are normal (estimate +/- z sd): a mean over hundreds of users is close to normal, and a
percentile interval of a sum of variance parts has no replicate distribution to read.

The draws depend only on ``seed`` and the sets of users, albums and thumbs, so two methods scored
on the same thumbs get the same replicates: a paired difference is the replicate-by-replicate
difference under each scheme, and its variance follows from the same formula.
``benchmarks/bench_calibration.py`` checks the widths against worlds where the truth is known.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

SCHEMES = ("users", "albums", "thumbs")


@dataclass(frozen=True)
class Replicates:
    """One statistic's bootstrap replicates under each one-way scheme (same draws for every method)."""

    users: np.ndarray
    albums: np.ndarray
    thumbs: np.ndarray

    def __sub__(self, other: "Replicates") -> "Replicates":
        return Replicates(self.users - other.users, self.albums - other.albums, self.thumbs - other.thumbs)

    def parts(self) -> dict[str, float]:
        """The variance parts: thumb noise, user part, album part (each clipped at 0)."""
        v = {k: float(np.nanvar(getattr(self, k), ddof=1)) if np.isfinite(getattr(self, k)).sum() > 1
             else float("nan") for k in SCHEMES}
        return {"thumbs": v["thumbs"], "users": max(v["users"] - v["thumbs"], 0.0),
                "albums": max(v["albums"] - v["thumbs"], 0.0)}

    def sd(self) -> float:
        p = self.parts()
        return float(np.sqrt(p["thumbs"] + p["users"] + p["albums"]))


def normal_interval(estimate: float, sd: float, level: float = 0.95) -> tuple[float, float]:
    if not (np.isfinite(estimate) and np.isfinite(sd)):
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + level / 2.0))
    return float(estimate - z * sd), float(estimate + z * sd)


def p_value(estimate: float, sd: float) -> float:
    """Two-sided normal p-value of ``estimate`` against 0 with the calibrated ``sd``."""
    if not (np.isfinite(estimate) and np.isfinite(sd)):
        return float("nan")
    if sd == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(2.0 * norm.sf(abs(estimate) / sd))


def holm(p: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment of a family of p-values (NaN ones are left out of the family)."""
    names = sorted((k for k, v in p.items() if np.isfinite(v)), key=lambda k: p[k])
    m, out, running = len(names), {k: float("nan") for k in p}, 0.0
    for j, k in enumerate(names):
        running = max(running, min(1.0, (m - j) * p[k]))
        out[k] = running
    return out


def _draws(n_users: int, n_items: int, n_thumbs: int, n_boot: int, seed: int):
    """Per scheme, ``n_boot`` multiplicity vectors (with-replacement counts), each scheme from its
    own seeded stream so adding a scheme never changes another's draws."""
    sizes = {"users": n_users, "albums": n_items, "thumbs": n_thumbs}
    for k, scheme in enumerate(SCHEMES):
        rng = np.random.default_rng([seed, k])
        n = sizes[scheme]
        for _ in range(n_boot):
            yield scheme, np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


class _Frame:
    """Test thumbs sorted once for one method's scores; ``weighted(...)`` is then one pass."""

    def __init__(self, users: np.ndarray, items: np.ndarray, y: np.ndarray, scores: np.ndarray) -> None:
        self.uniq_u, self.uidx = np.unique(users, return_inverse=True)
        self.uniq_i, self.iidx = np.unique(items, return_inverse=True)
        self.n = y.size


class UserAUCFrame(_Frame):
    """Weighted mean per-user Mann-Whitney AUC (ties half), users averaged with their weights."""

    def __init__(self, users, items, y, scores) -> None:
        super().__init__(users, items, y, scores)
        self.order = np.lexsort((scores, self.uidx))
        uo, so = self.uidx[self.order], scores[self.order]
        self.yo = y[self.order]
        self.group = np.cumsum(np.r_[True, (uo[1:] != uo[:-1]) | (so[1:] != so[:-1])]) - 1
        self.n_groups = int(self.group[-1]) + 1 if self.n else 0
        self.g_user = uo[np.r_[0, np.flatnonzero(np.diff(self.group)) + 1]] if self.n else uo
        first = np.r_[True, self.g_user[1:] != self.g_user[:-1]]
        self.start = np.maximum.accumulate(np.where(first, np.arange(self.n_groups), 0))

    def weighted(self, w_thumb: np.ndarray, w_user: np.ndarray) -> float:
        w = w_thumb[self.order]
        P = np.bincount(self.group, weights=w * self.yo, minlength=self.n_groups)
        N = np.bincount(self.group, weights=w * ~self.yo, minlength=self.n_groups)
        cumN = np.cumsum(N)
        below = cumN - N - (cumN[self.start] - N[self.start])  # the user's negatives ranked strictly lower
        nu = self.uniq_u.size
        num = np.bincount(self.g_user, weights=P * (below + 0.5 * N), minlength=nu)
        tp = np.bincount(self.g_user, weights=P, minlength=nu)
        tn = np.bincount(self.g_user, weights=N, minlength=nu)
        ok = (tp > 0) & (tn > 0) & (w_user > 0)
        return float(np.sum(w_user[ok] * num[ok] / (tp[ok] * tn[ok])) / w_user[ok].sum()) if ok.any() else np.nan


class ThumbsAUCFrame(_Frame):
    """Weighted global Mann-Whitney AUC over all thumbs (ties half)."""

    def __init__(self, users, items, y, scores) -> None:
        super().__init__(users, items, y, scores)
        self.order = np.argsort(scores, kind="stable")
        so = scores[self.order]
        self.yo = y[self.order]
        self.gid = np.cumsum(np.r_[True, so[1:] != so[:-1]]) - 1 if self.n else np.zeros(0, np.int64)
        self.n_groups = int(self.gid[-1]) + 1 if self.n else 0

    def weighted(self, w_thumb: np.ndarray, w_user: np.ndarray) -> float:
        w = (w_thumb * w_user[self.uidx])[self.order]
        P = np.bincount(self.gid, weights=w * self.yo, minlength=self.n_groups)
        N = np.bincount(self.gid, weights=w * ~self.yo, minlength=self.n_groups)
        below = np.cumsum(N) - N
        tp, tn = P.sum(), N.sum()
        return float((P * (below + 0.5 * N)).sum() / (tp * tn)) if tp > 0 and tn > 0 else np.nan


def replicates(frame_cls, users: np.ndarray, items: np.ndarray, y: np.ndarray, scores: np.ndarray,
               n_boot: int = 1000, seed: int = 0) -> Replicates:
    """The statistic of ``frame_cls`` (:class:`UserAUCFrame` or :class:`ThumbsAUCFrame`) in
    ``n_boot`` replicates of each one-way scheme. A user drawn m times, an album drawn m times or a
    thumb drawn m times weighs m; everything else keeps weight 1."""
    users, items = np.asarray(users), np.asarray(items)
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.size == 0:
        nan = np.full(n_boot, np.nan)
        return Replicates(nan, nan, nan)
    f = frame_cls(users, items, y, s)
    ones_u, ones_t = np.ones(f.uniq_u.size), np.ones(f.n)
    out = {k: np.empty(n_boot) for k in SCHEMES}
    count = dict.fromkeys(SCHEMES, 0)
    for scheme, m in _draws(f.uniq_u.size, f.uniq_i.size, f.n, n_boot, seed):
        if scheme == "users":
            v = f.weighted(ones_t, m)
        elif scheme == "albums":
            v = f.weighted(m[f.iidx], ones_u)
        else:
            v = f.weighted(m, ones_u)
        out[scheme][count[scheme]] = v
        count[scheme] += 1
    return Replicates(out["users"], out["albums"], out["thumbs"])
