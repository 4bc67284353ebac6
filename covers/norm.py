"""The normaliser contract, and the normalisations scikit-learn does not already provide.

A normaliser is a scikit-learn transformer (``fit``/``transform``/``get_params``), fitted on the
catalogue's feature matrix only (never on thumbs, so nothing can leak). ``conf/norm/*.yaml``
instantiate either :class:`RowZScore` or scikit-learn's own (``StandardScaler`` for
``standardize``, ``PCA`` for ``pca``, ``Normalizer`` for ``l2``, ``FunctionTransformer`` for
``none``). Its cache identity is :func:`normaliser_key`: class and parameters.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from covers.utils import release_rows

ROWS = 65536  #: rows transformed at a time by :func:`fit_transform_rows` (speed/memory only)


@runtime_checkable
class Normaliser(Protocol):
    def fit(self, X: Any, y: Any = None) -> Any: ...
    def transform(self, X: Any) -> Any: ...
    def fit_transform(self, X: Any, y: Any = None) -> Any: ...
    def get_params(self, deep: bool = True) -> dict: ...


def normaliser_key(norm: Normaliser) -> dict:
    """What the normalised matrix depends on besides the input: class and parameters."""
    return {"class": type(norm).__name__, **{k: repr(v) for k, v in norm.get_params().items()}}


class RowZScore(TransformerMixin, BaseEstimator):
    """Per-vector (per-cover) z-score: subtract its mean, divide by its std.

    This is the 2014 seed's pixel recipe. A flat cover has std 0; dividing
    would give NaN, so its (all-zero) centred vector is kept as is.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps

    def fit(self, X, y=None):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"RowZScore expects a 2-D array, got shape {X.shape}")
        if not self.eps >= 0:
            raise ValueError(f"RowZScore: eps must be >= 0, got {self.eps!r}")
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        centred = X - X.mean(axis=1, keepdims=True)
        std = centred.std(axis=1, keepdims=True)
        return np.divide(centred, std, out=np.zeros_like(centred), where=std > self.eps)


def fit_transform_rows(norm: Normaliser, X: np.ndarray, describe: Callable[[int], str], rows: int = ROWS,
                       out_dir: str | Path | None = None) -> np.ndarray:
    """``norm.fit_transform(X)`` as float32, without full-size temporaries when that is exact.

    Transformers whose ``fit_transform`` is scikit-learn's default ``fit(X).transform(X)``
    (RowZScore, Normalizer, StandardScaler, FunctionTransformer) are fitted on X, then
    transform ``rows`` rows at a time into the output: the same numbers (every transform here
    is row by row) without the 2-3 matrix-sized temporaries of one big call. The output is a
    memory map of an unlinked temporary file in ``out_dir`` (the cache dir) when X is itself
    memory-mapped, so neither matrix has to stay resident. Others (PCA's own fit_transform) get
    the one big call. Raises FloatingPointError on non-finite output, naming a cover (``describe(row)``).
    """
    n = len(X)
    if getattr(type(norm), "fit_transform", None) is TransformerMixin.fit_transform and n > rows:
        norm.fit(X)
        first_part = np.asarray(norm.transform(X[:rows]), dtype=np.float32)
        shape = (n, first_part.shape[1])
        if isinstance(X, np.memmap) or getattr(X, "_mmap", None) is not None:
            import tempfile

            d = Path(out_dir) if out_dir is not None else None
            if d is not None:
                d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=d, prefix="normalised-", suffix=".npy")
            os.close(fd)
            try:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            finally:
                os.unlink(tmp)  # the mapping keeps the data; the disk space goes with it
        else:
            out = np.empty(shape, dtype=np.float32)
        first = None
        for a in range(0, n, rows):
            part = first_part if a == 0 else np.asarray(norm.transform(X[a:a + rows]), dtype=np.float32)
            out[a:a + len(part)] = part
            if first is None and not np.isfinite(part).all():
                first = a + int(np.flatnonzero(~np.isfinite(part).all(1))[0])
            release_rows(X, a, a + rows)  # a pass over mapped matrices: keep only the current rows resident
            release_rows(out, a, a + rows)
        Xn = out
    else:
        Xn = np.asarray(norm.fit_transform(X), dtype=np.float32)
        first = None if np.isfinite(Xn).all() else int(np.flatnonzero(~np.isfinite(Xn).all(1))[0])
    if first is not None:
        n_bad = sum(int((~np.isfinite(Xn[a:a + rows])).any(1).sum()) for a in range(0, n, rows))
        raise FloatingPointError(f"normalisation produced non-finite values for {n_bad} covers, e.g. {describe(first)}")
    return Xn

