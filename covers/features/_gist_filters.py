"""Frequency-domain filters and pooling weights for :mod:`covers.features.gist`.

Everything here depends only on image shape and GIST parameters, never on
pixels, so it is computed once in float64, cast to float32, cached and shared
read-only between threads.

Frequency grid. LEAR builds ``fx = x - W/2`` and ``fy = y - H/2`` and then
fft-shifts them; for an even side that is exactly the integer FFT frequency
``k`` for ``k < W/2`` and ``k - W`` otherwise (``np.fft.fftfreq(W) * W``).
We use that integer grid for every side. For odd sides LEAR's grid is half a
bin off centre (its DC bin gets ``fx = 0.5``), an artefact we do not copy: the
integer grid keeps the low-pass real and symmetric (so it is a real
circulant matrix) and makes the descriptor transpose-consistent. All of the
reference images have even sides, where the two grids are identical.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

#: LEAR pads the image by this many mirrored pixels before the prefilter.
PAD = 5


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def freq_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer frequencies (fx along the width, fy along the height), (h, w) float64."""
    fx = np.fft.fftfreq(w, 1.0 / w)
    fy = np.fft.fftfreq(h, 1.0 / h)
    return np.broadcast_to(fx[None, :], (h, w)), np.broadcast_to(fy[:, None], (h, w))


@lru_cache(maxsize=32)
def lowpass_matrix(n: int, fc: float) -> np.ndarray:
    """(n, n) float32 circulant matrix of LEAR's Gaussian low-pass along one axis.

    LEAR low-passes the padded image as ``IFFT(FFT(x) · gfc)`` with
    ``gfc = exp(-(fx² + fy²) / s1²)``, ``s1 = fc / sqrt(ln 2)``. That filter
    is separable, ``exp(-fx²/s1²) · exp(-fy²/s1²)``, so the same circular
    convolution is ``L_h @ x @ L_w`` with ``L = circulant(IDFT(exp(-f²/s1²)))``
    (symmetric). Two small matrix products beat FFTs here because the padded
    side ``n + 10`` is an awkward FFT length (74 = 2·37 for 64 px: FFTW took
    ~45 µs per 74×74 transform against ~4 µs for 64×64).
    """
    s1 = fc / np.sqrt(np.log(2.0))
    f = np.fft.fftfreq(n, 1.0 / n)
    kernel = np.fft.ifft(np.exp(-(f**2) / s1**2)).real
    idx = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
    return _readonly(kernel[idx].astype(np.float32))


def gabor_params(orientations: tuple[int, ...]) -> list[tuple[float, float, float, float]]:
    """LEAR's (p0, p1, p2, p3) per filter, scales outermost, orientations inner."""
    params = []
    for i, n_or in enumerate(orientations, start=1):
        for j in range(1, n_or + 1):
            params.append((0.35, 0.3 / 1.85 ** (i - 1), 16.0 * n_or**2 / 32.0**2, np.pi / n_or * (j - 1)))
    return params


def gabor_bank_f64(h: int, w: int, orientations: tuple[int, ...]) -> np.ndarray:
    """LEAR's Gabor transfer functions on the (h, w) FFT grid, float64 (F, h, w).

    ``G = exp(-10 p0 (fr/h/p1 - 1)(fr/w/p1 - 1) - 2 p2 pi angle²)`` with
    ``angle = atan2(fy, fx) + p3`` wrapped once into [-pi, pi]; fx runs along
    the width and fy along the height (LEAR swaps the two through its FFT
    plans for non-square images; we do not).
    """
    fx, fy = freq_grid(h, w)
    fr = np.sqrt(fx**2 + fy**2)
    theta = np.arctan2(fy, fx)
    bank = np.empty((sum(orientations), h, w))
    for k, (p0, p1, p2, p3) in enumerate(gabor_params(orientations)):
        t = theta + p3
        t = np.where(t < -np.pi, t + 2 * np.pi, np.where(t > np.pi, t - 2 * np.pi, t))
        bank[k] = np.exp(-10.0 * p0 * (fr / h / p1 - 1.0) * (fr / w / p1 - 1.0) - 2.0 * p2 * np.pi * t**2)
    return bank


@lru_cache(maxsize=32)
def gabor_bank(h: int, w: int, orientations: tuple[int, ...]) -> np.ndarray:
    """float32 (F, h, 2w): the bank scaled by 1/(h*w), each value written twice.

    The duplication lets the spectrum (complex64 viewed as interleaved
    float32 re/im) be multiplied by a real filter as one contiguous float32
    multiply, instead of numpy casting the filter to complex on the fly.
    The 1/(h*w) is LEAR's normalisation of |IFFT(F·G)|, folded in so the
    inverse FFT can run unscaled.
    """
    bank = (gabor_bank_f64(h, w, orientations) / (h * w)).astype(np.float32)
    return _readonly(np.repeat(bank, 2, axis=-1))


def block_edges(n: int, nblocks: int) -> np.ndarray:
    """LEAR's integer block edges ``i * n // nblocks`` for i = 0..nblocks."""
    return np.arange(nblocks + 1) * n // nblocks


@lru_cache(maxsize=32)
def pooling_weights(n: int, nblocks: int) -> np.ndarray:
    """(n, nblocks) float32 matrix averaging over each block along one axis.

    Pooling a (K, H, W) stack is then two small matrix products, which handle
    uneven block edges (sides not divisible by nblocks) with no special case.
    """
    edges = block_edges(n, nblocks)
    weights = np.zeros((n, nblocks))
    for b in range(nblocks):
        weights[edges[b] : edges[b + 1], b] = 1.0 / (edges[b + 1] - edges[b])
    return _readonly(weights.astype(np.float32))


@lru_cache(maxsize=1)
def log_table() -> np.ndarray:
    """``log(v + 1)`` for every uint8 value, float32 (LEAR's first step)."""
    return _readonly(np.log(np.arange(256, dtype=np.float64) + 1.0).astype(np.float32))
