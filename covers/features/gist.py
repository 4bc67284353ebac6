"""GIST descriptor (Oliva & Torralba), numerically identical to LEAR's C code.

The reference is LEAR's GIST 1.0 (``pyleargist`` 2.0.5, ``color_gist``); on
square images our vectors agree with its outputs to < 1e-6 (checked against
stored outputs in ``tests/fixtures/gist_reference.npz``). Per image, in
float32 / complex64 throughout:

1. prefilter on the image padded by 5 mirrored pixels: ``log(x + 1)``;
   whitening ``x - lowpass(x)``; local contrast normalisation
   ``x / (0.2 + sqrt(|lowpass(m²)|))`` with ``m`` the *mean over channels* of
   the whitened image (LEAR squares the channel mean; it does not average
   the squares, which is off by up to 0.4 on colourful images), then the
   padding is dropped. ``lowpass`` is LEAR's Gaussian (``fc``, LEAR's is 4);
2. per channel, ``|IFFT(FFT(x) · G_f)| / (W·H)`` for every Gabor filter
   ``G_f`` (scales × orientations, built at the image size);
3. each response map averaged over an ``nblocks × nblocks`` grid with LEAR's
   integer edges ``i * W // nblocks``.

Output layout, as LEAR writes it: index ``((c * F + f) * nblocks + bx) *
nblocks + by``, ``bx`` the block column and ``by`` the block row.

Non-square images get the mathematically intended descriptor (``fx`` along
the width, ``fy`` along the height). LEAR's FFT plans swap width and height,
so its output for non-square images is not that, and we do not match it.

Speed (one core, 64×64 colour: ~0.55 ms/image against LEAR's 3.6 ms): the
cost is the ``channels × filters`` inverse FFTs (60 per colour image at the
defaults), run batched on complex64 buffers sized to stay in L2 cache through
FFTW (pyFFTW: 2.5-3× faster than scipy's pocketfft here; scipy.fft is the
fallback). The prefilter's Gaussian is separable, so it runs as small matrix
products instead of FFTs of the awkward padded size (74 = 2·37 for 64 px).
``n_jobs`` runs chunks on a thread pool: numpy, BLAS and FFTW release the GIL,
and with few numpy calls per image threads scaled like a process pool on 2
cores (1.8-2×), without pickling, start-up or fork-safety costs.
"""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.fft as _sfft

from covers.features import _gist_filters as filt
from covers.features.base import FeatureExtractor
from covers.utils import resolve_n_jobs

try:  # FFTW is the faster engine; scipy.fft is the fallback
    import pyfftw
except ImportError:  # pragma: no cover - exercised only without pyfftw
    pyfftw = None
try:  # keeps BLAS single-threaded inside our own threads (optional)
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None

MIN_SIZE = 8  #: LEAR refuses images smaller than 8x8
BACKENDS = ("numpy", "lear")
FFT_LIBS = ("pyfftw", "scipy")
#: complex filter responses computed at once: L2-sized (2 MiB per core here)
GROUP_BYTES = 2 << 20
#: padded float32 images prefiltered at once (few numpy calls per image)
PREFILTER_BYTES = 1 << 20
#: fewest images worth handing to a worker thread
MIN_TASK = 32
_PLAN_LOCK = threading.Lock()  # FFTW's planner is not thread-safe
_local = threading.local()


# --------------------------------------------------------------------------- FFT workspaces
class _Workspace:
    """Buffers and FFT plans for ``u`` channel images of ``h × w`` and ``f`` filters.

    Owned by one thread. ``forward()`` transforms ``img`` (filled in place by
    the caller; imaginary part kept at 0); ``inverse()`` transforms ``prod``
    (the spectra times the filters) in place; both unscaled.
    """

    def __init__(self, lib: str, u: int, h: int, w: int, f: int) -> None:
        self.lib = lib
        alloc = pyfftw.empty_aligned if lib == "pyfftw" else np.empty
        self.img = alloc((u, h, w), np.complex64)
        self.spec = alloc((u, h, w), np.complex64)
        self.prod = alloc((u * f, h, w), np.complex64)
        self.mag = np.empty((u * f, h, w), np.float32)
        if lib == "pyfftw":
            # FFTW_MEASURE was no faster here (measured at 32, 64 px) and picks
            # plans by timing, so outputs could differ in the last bit between
            # runs; FFTW_ESTIMATE plans are deterministic and instant.
            kw = dict(axes=(-2, -1), flags=("FFTW_ESTIMATE",), threads=1)
            with _PLAN_LOCK:
                self._fwd = pyfftw.FFTW(self.img, self.spec, **kw)
                self._inv = pyfftw.FFTW(self.prod, self.prod, direction="FFTW_BACKWARD", normalise_idft=False, **kw)
        self.img.imag = 0.0

    def forward(self) -> np.ndarray:
        if self.lib == "pyfftw":
            self._fwd.execute()
            return self.spec
        return _sfft.fft2(self.img, workers=1)

    def inverse(self) -> np.ndarray:
        if self.lib == "pyfftw":
            self._inv.execute()
            return self.prod
        return _sfft.ifft2(self.prod, norm="forward", workers=1, overwrite_x=True)


def _workspace(lib: str, u: int, h: int, w: int, f: int) -> _Workspace:
    """This thread's workspace for the shape (the last few shapes are kept)."""
    cache = _local.__dict__.setdefault("cache", {})
    key = (lib, u, h, w, f)
    ws = cache.pop(key, None) or _Workspace(lib, u, h, w, f)
    cache[key] = ws  # most recently used last
    while len(cache) > 4:
        del cache[next(iter(cache))]
    return ws


# --------------------------------------------------------------------------- the pipeline
def _prefilter(imgs: np.ndarray, fc: float) -> np.ndarray:
    """LEAR's prefilter of (m, h, w, c) uint8 → padded float32 (m, c, h+10, w+10)."""
    m, h, w, c = imgs.shape
    p = filt.PAD
    hp, wp = h + 2 * p, w + 2 * p
    x = np.empty((m, c, hp, wp), np.float32)
    x[:, :, p:-p, p:-p] = filt.log_table()[imgs.transpose(0, 3, 1, 2)]
    # LEAR's mirror padding (edge pixel repeated, numpy's 'symmetric')
    x[:, :, :p, p:-p] = x[:, :, 2 * p - 1 : p - 1 : -1, p:-p]
    x[:, :, -p:, p:-p] = x[:, :, -p - 1 : -2 * p - 1 : -1, p:-p]
    x[..., :p] = x[..., 2 * p - 1 : p - 1 : -1]
    x[..., -p:] = x[..., -p - 1 : -2 * p - 1 : -1]
    # The whitening removes any constant (the low-pass has gain 1 at DC);
    # subtracting one first makes flat channels exactly 0 instead of noise.
    x -= x[:, :, :1, :1]
    lh, lw = filt.lowpass_matrix(hp, fc), filt.lowpass_matrix(wp, fc)
    # Stacked products (one BLAS call per image) rather than one tall product:
    # BLAS rounds a row differently depending on the matrix height, and
    # per-image calls keep every image's result independent of its batch.
    x -= np.matmul(lh, np.matmul(x, lw))  # whitening
    q = x[:, 0] * x[:, 0] if c == 1 else np.square(x.mean(axis=1))
    den = np.matmul(lh, np.matmul(q, lw))
    np.abs(den, out=den)
    np.sqrt(den, out=den)
    den += np.float32(0.2)
    x /= den[:, None]
    return x


def _gabor_group(
    x: np.ndarray, out: np.ndarray, ws: _Workspace, nblocks: int, orientations: tuple[int, ...],
    prof: dict[str, float] | None,
) -> None:
    """Gabor energies of prefiltered (m, c, h, w) images, pooled into ``out`` (m, D)."""
    tick = time.perf_counter
    t1 = tick()
    m, c, h, w = x.shape
    u = m * c
    np.copyto(ws.img.real.reshape(m, c, h, w), x)
    spec = ws.forward()
    t2 = tick()
    bank = filt.gabor_bank(h, w, orientations)  # (F, h, 2w) float32, re/im duplicated
    nf = bank.shape[0]
    np.multiply(  # complex spectrum × real filter, as one float32 multiply
        spec.view(np.float32).reshape(u, 1, h, 2 * w), bank,
        out=ws.prod.view(np.float32).reshape(u, nf, h, 2 * w),
    )
    t3 = tick()
    resp = ws.inverse()
    t4 = tick()
    mag = np.abs(resp, out=ws.mag)
    t5 = tick()
    # block means as two matrix products (any block edges): (k,y,x)→(k,y,bx)→(k,bx,by)
    cols = np.matmul(mag, filt.pooling_weights(w, nblocks))
    pooled = np.matmul(cols.transpose(0, 2, 1), filt.pooling_weights(h, nblocks))
    out[...] = pooled.reshape(m, -1)
    if prof is not None:
        t6 = tick()
        for name, dt in (("forward_fft", t2 - t1), ("multiply", t3 - t2), ("inverse_fft", t4 - t3),
                         ("magnitude", t5 - t4), ("pooling", t6 - t5)):
            prof[name] = prof.get(name, 0.0) + dt


def _gist_chunk(
    images: np.ndarray, out: np.ndarray, nblocks: int, orientations: tuple[int, ...], fc: float,
    fft_lib: str, prof: dict[str, float] | None,
) -> None:
    """(n, h, w, c) uint8 → out (n, D).

    The prefilter runs on batches of ~PREFILTER_BYTES, the Gabor stage on
    groups whose complex responses fit in L2 (GROUP_BYTES). Big batches keep
    the number of numpy calls per image low, which is what lets threads
    scale: every call is a GIL hand-off between the worker threads.
    """
    n, h, w, c = images.shape
    nf = sum(orientations)
    p = filt.PAD
    m = max(1, GROUP_BYTES // (c * nf * h * w * 8))
    mp = max(1, PREFILTER_BYTES // (c * (h + 2 * p) * (w + 2 * p) * 4)) // m * m or m
    for s in range(0, n, mp):
        e = min(s + mp, n)
        t0 = time.perf_counter()
        x = _prefilter(images[s:e], fc)[:, :, p:-p, p:-p]
        if prof is not None:
            prof["prefilter"] = prof.get("prefilter", 0.0) + time.perf_counter() - t0
        for g in range(s, e, m):
            ge = min(g + m, e)
            ws = _workspace(fft_lib, (ge - g) * c, h, w, nf)
            _gabor_group(x[g - s : ge - s], out[g:ge], ws, nblocks, orientations, prof)


# --------------------------------------------------------------------------- public API
def _check_params(nblocks: Any, orientations: Any, fc: Any) -> tuple[int, tuple[int, ...], float]:
    """Validate GIST parameters; return them normalised (int, tuple of ints, float)."""
    if not isinstance(nblocks, (int, np.integer)) or isinstance(nblocks, bool) or nblocks < 1:
        raise ValueError(f"gist: nblocks must be an int >= 1, got {nblocks!r}")
    if isinstance(orientations, (str, bytes)) or not hasattr(orientations, "__iter__"):
        raise ValueError(f"gist: orientations must be a sequence of ints (one per scale), got {orientations!r}")
    ors = tuple(orientations)
    if not ors:
        raise ValueError("gist: orientations must name at least one scale, got an empty sequence")
    for o in ors:
        if not isinstance(o, (int, np.integer)) or isinstance(o, bool) or o < 1:
            raise ValueError(f"gist: orientations must be ints >= 1 (per scale), got {list(ors)!r}")
    if isinstance(fc, bool) or not isinstance(fc, (int, float, np.integer, np.floating)) or not (
        np.isfinite(fc) and fc > 0
    ):
        raise ValueError(f"gist: fc (prefilter cut-off) must be a finite number > 0, got {fc!r}")
    return int(nblocks), tuple(int(o) for o in ors), float(fc)


def _check_images(images: Any, nblocks: int) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 3) → (N, H, W, C) view, with clear errors."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"gist: expected uint8 images, got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    elif images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"gist: expected images of shape (N, H, W) (grayscale) or (N, H, W, 3) (colour), got {images.shape}"
        )
    h, w = images.shape[1:3]
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"gist: images must be at least {MIN_SIZE}x{MIN_SIZE} (LEAR's minimum), got {h}x{w}")
    if nblocks > min(h, w):
        raise ValueError(f"gist: nblocks={nblocks} leaves empty blocks on {h}x{w} images; need nblocks <= {min(h, w)}")
    return images


def default_fft_lib() -> str:
    """pyFFTW when installed (faster, see module doc), else scipy.fft."""
    return "pyfftw" if pyfftw is not None else "scipy"


_blas: list = []  # the threadpoolctl controller, made once (scanning libraries takes ~1 ms)


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Our threads are the parallelism; BLAS threads on top only spin and oversubscribe.

    (Process-wide while a call runs: BLAS used concurrently elsewhere in the
    process is single-threaded meanwhile.)
    """
    if ThreadpoolController is None:
        return contextlib.nullcontext()
    if not _blas:
        _blas.append(ThreadpoolController())
    return _blas[0].limit(limits=1, user_api="blas")


def gist(
    images: np.ndarray, *, nblocks: int = 4, orientations: Any = (8, 8, 4), fc: float = 4,
    batch_size: int = 256, n_jobs: int = -1, fft_lib: str | None = None,
    _profile: dict[str, float] | None = None,
) -> np.ndarray:
    """GIST descriptors of a batch of uint8 images, LEAR's algorithm and layout.

    ``images``: (N, H, W, 3) colour or (N, H, W) grayscale uint8, H, W >= 8
    (non-square allowed: see the module doc). ``nblocks``: pooling grid side;
    ``orientations``: Gabor orientations per scale (any number of scales);
    ``fc``: prefilter cut-off (LEAR hard-codes 4). Returns float32 (N, D),
    D = channels × sum(orientations) × nblocks²; flat images give zeros.

    ``batch_size`` images form one task for a worker thread and ``n_jobs``
    (-1: all cores) threads run tasks. Neither changes a single bit of the
    output: an image's vector does not depend on what it is batched with.
    Working memory is a few MiB per thread whatever the batch size (images
    are processed in cache-sized groups), plus the input and the output.
    ``fft_lib`` picks "pyfftw" or "scipy" (default: pyfftw if installed).
    ``_profile``: a dict that accumulates seconds per stage (use n_jobs=1).
    """
    nblocks, orientations, fc = _check_params(nblocks, orientations, fc)
    imgs = _check_images(images, nblocks)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"gist: batch_size must be an int >= 1, got {batch_size!r}")
    workers = resolve_n_jobs(n_jobs)
    fft_lib = fft_lib or default_fft_lib()
    if fft_lib not in FFT_LIBS or (fft_lib == "pyfftw" and pyfftw is None):
        raise ValueError(f"gist: fft_lib must be one of {FFT_LIBS} (pyfftw needs pyFFTW installed), got {fft_lib!r}")
    n, c = imgs.shape[0], imgs.shape[-1]
    out = np.empty((n, c * sum(orientations) * nblocks * nblocks), np.float32)
    if n == 0:
        return out
    # tasks of at least MIN_TASK images: threads (and their per-thread FFT
    # plans) are made per call, which only pays off with some work each
    chunk = max(min(int(batch_size), -(-n // workers)), min(int(batch_size), MIN_TASK))
    spans = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]

    def run(span: tuple[int, int]) -> None:
        s, e = span
        _gist_chunk(imgs[s:e], out[s:e], nblocks, orientations, fc, fft_lib, _profile)

    with _single_threaded_blas():
        if workers == 1 or len(spans) == 1:
            for span in spans:
                run(span)
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(spans))) as pool:
                list(pool.map(run, spans))
    return out


def _lear_module() -> Any:
    try:
        import leargist
    except ImportError as err:
        raise ImportError(
            "GistFeatures(backend='lear') needs a Python-3 build of LEAR's GIST as the module `leargist` "
            "(pyleargist 2.0.5 on PyPI is Python-2 only: build its C code, LEAR's gist.c + standalone_image.c "
            "with FFTW3f, with a Python-3 wrapper exposing color_gist). It is not installed; "
            "use backend='numpy', which matches LEAR's outputs to < 1e-6."
        ) from err
    if not hasattr(leargist, "color_gist"):
        raise ImportError(f"the installed `leargist` ({leargist.__file__}) has no color_gist()")
    return leargist


def lear_gist(images: np.ndarray, nblocks: int, orientations: tuple[int, ...]) -> np.ndarray:
    """GIST through LEAR's own C code (``leargist.color_gist``), one image at a time.

    Grayscale images go in as R = G = B, for which LEAR's colour prefilter is
    its grayscale one, and the first channel's block is kept. For
    non-square images this is LEAR's (width/height-swapped) output.
    """
    from PIL import Image

    leargist = _lear_module()
    imgs = _check_images(images, nblocks)
    gray = imgs.shape[-1] == 1
    d = sum(orientations) * nblocks * nblocks
    out = np.empty((imgs.shape[0], d if gray else 3 * d), np.float32)
    for i, img in enumerate(imgs):
        pil = Image.fromarray(np.repeat(img, 3, axis=-1) if gray else img, mode="RGB")
        vec = np.asarray(leargist.color_gist(pil, nblocks=nblocks, orientations=orientations), np.float32)
        out[i] = vec[:d] if gray else vec
    return out


class GistFeatures(FeatureExtractor):
    """GIST of ``size``×``size`` covers: colour (mode "rgb", 960 values at the
    defaults) or grayscale (mode "gray", 320 values), LEAR's algorithm.

    ``backend="numpy"`` is our implementation (:func:`gist`);
    ``backend="lear"`` calls LEAR's C code through a Python-3 ``leargist``
    module if one is installed (never a silent fallback). ``batch_size`` and
    ``n_jobs`` only change speed/memory, so they are not in :meth:`result_params`.
    """

    speed_params = ("batch_size", "n_jobs")

    min_size = MIN_SIZE

    def __init__(
        self, size: int = 32, mode: str = "rgb", nblocks: int = 4, orientations: Any = (8, 8, 4),
        fc: float = 4, backend: str = "numpy", batch_size: int = 256, n_jobs: int = -1,
    ) -> None:
        super().__init__(size=size, mode=mode)
        self.nblocks, self.orientations, self.fc = nblocks, orientations, fc
        self.backend, self.batch_size, self.n_jobs = backend, batch_size, n_jobs

    def check(self) -> None:
        super().check()
        nblocks, _, fc = _check_params(self.nblocks, self.orientations, self.fc)
        backend, batch_size = self.backend, self.batch_size
        if nblocks > self.size:
            raise ValueError(f"GistFeatures: nblocks={nblocks} exceeds size={self.size}")
        if backend not in BACKENDS:
            raise ValueError(f"GistFeatures: backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "lear":
            _lear_module()
            if fc != 4.0:
                raise ValueError(f"GistFeatures: backend='lear' hard-codes fc=4, got fc={fc!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"GistFeatures: batch_size must be an int >= 1, got {batch_size!r}")
        self._require_n_jobs("n_jobs")

    def result_params(self) -> dict[str, Any]:
        # normalised, so 4 and 4.0 (or a list and a tuple) are one cache entry
        nblocks, orientations, fc = _check_params(self.nblocks, self.orientations, self.fc)
        return {"class": type(self).__name__, "size": int(self.size), "mode": self.mode, "nblocks": nblocks,
                "orientations": list(orientations), "fc": fc, "backend": self.backend}

    def _n_features(self) -> int:
        return (3 if self.mode == "rgb" else 1) * sum(self.orientations) * self.nblocks**2

    def transform(self, images: np.ndarray) -> np.ndarray:
        images = self.check_images(images)
        if self.backend == "lear":
            return lear_gist(images, self.nblocks, tuple(self.orientations))
        return gist(
            images, nblocks=self.nblocks, orientations=self.orientations, fc=self.fc,
            batch_size=self.batch_size, n_jobs=self.n_jobs,
        )
