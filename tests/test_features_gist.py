"""covers.features.gist: agreement with LEAR's C implementation, and the contract around it.

The reference vectors (``tests/fixtures/gist_reference.npz``) are LEAR GIST
1.0's own outputs (pyleargist 2.0.5) for square images and three parameter
variants; the fixture also holds the exact uint8 inputs.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from covers.features import gist as gist_mod
from covers.features.gist import GistFeatures, gist

FIXTURE = Path(__file__).parent / "fixtures" / "gist_reference.npz"
TOL = 1e-5  # LEAR computes in float32; we agree to < 1e-6 in practice

_data = np.load(FIXTURE)
META = json.loads(str(_data["meta"]))
DATA = {k: _data[k] for k in _data.files if k != "meta"}
VARIANTS = [(v["nblocks"], tuple(v["orientations"])) for v in META["variants"]]
CASES = [(stem, k, mode) for stem in META["images"] for k in range(len(VARIANTS)) for mode in ("rgb", "gray")]
HAVE_LEAR = importlib.util.find_spec("leargist") is not None


def _ref(stem: str, k: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    img = DATA[f"{mode}__{stem}"]
    return img, DATA[f"ref__{stem}__v{k}" if mode == "rgb" else f"ref__{stem}__gray__v{k}"]


def brute_gist(img: np.ndarray, nblocks: int, orientations: tuple[int, ...], fc: float = 4.0) -> np.ndarray:
    """The algorithm written out plainly in float64, for any (h, w)."""
    x = np.log(img.astype(np.float64) + 1.0)
    x = np.moveaxis(x[..., None] if x.ndim == 2 else x, -1, 0)
    _, h, w = x.shape
    xp = np.pad(x, ((0, 0), (5, 5), (5, 5)), mode="symmetric")
    fy = np.fft.fftfreq(xp.shape[1], 1.0 / xp.shape[1])[:, None]
    fx = np.fft.fftfreq(xp.shape[2], 1.0 / xp.shape[2])[None, :]
    gfc = np.exp(-(fx**2 + fy**2) / (fc / np.sqrt(np.log(2))) ** 2)
    lowpass = lambda a: np.fft.ifft2(np.fft.fft2(a) * gfc)  # noqa: E731
    xp = xp - lowpass(xp).real
    xp = xp / (0.2 + np.sqrt(np.abs(lowpass(xp.mean(axis=0) ** 2))))  # LEAR squares the channel mean
    x = xp[:, 5:-5, 5:-5]
    fy, fx = np.meshgrid(np.fft.fftfreq(h, 1.0 / h), np.fft.fftfreq(w, 1.0 / w), indexing="ij")
    fr, theta = np.hypot(fx, fy), np.arctan2(fy, fx)
    out = []
    for chan in x:
        spec = np.fft.fft2(chan)
        for i, n_or in enumerate(orientations):
            for j in range(n_or):
                t = theta + np.pi / n_or * j
                t = np.where(t < -np.pi, t + 2 * np.pi, np.where(t > np.pi, t - 2 * np.pi, t))
                p1 = 0.3 / 1.85**i
                g = np.exp(-3.5 * (fr / h / p1 - 1) * (fr / w / p1 - 1) - 2 * (16 * n_or**2 / 32**2) * np.pi * t**2)
                resp = np.abs(np.fft.ifft2(spec * g))
                for bx in range(nblocks):
                    for by in range(nblocks):
                        ys = slice(by * h // nblocks, (by + 1) * h // nblocks)
                        xs = slice(bx * w // nblocks, (bx + 1) * w // nblocks)
                        out.append(resp[ys, xs].mean())
    return np.array(out)


# --------------------------------------------------------------------------- reference agreement
@pytest.mark.parametrize("stem,k,mode", CASES, ids=[f"{s}-v{k}-{m}" for s, k, m in CASES])
def test_matches_lear_reference(stem, k, mode):
    img, ref = _ref(stem, k, mode)
    nblocks, ors = VARIANTS[k]
    ours = gist(img[None], nblocks=nblocks, orientations=ors, n_jobs=1)
    assert ours.shape == (1, ref.size) and ours.dtype == np.float32
    assert np.abs(ours[0] - ref).max() <= TOL


@pytest.mark.parametrize("k", range(len(VARIANTS)))
def test_matches_reference_batched_multithreaded(k):
    stems = [s for s in META["images"] if DATA[f"rgb__{s}"].shape[0] == 64]
    for mode in ("rgb", "gray"):
        imgs = np.stack([DATA[f"{mode}__{s}"] for s in stems])
        ours = gist(imgs, nblocks=VARIANTS[k][0], orientations=VARIANTS[k][1], batch_size=3, n_jobs=2)
        refs = np.stack([_ref(s, k, mode)[1] for s in stems])
        assert np.abs(ours - refs).max() <= TOL


@pytest.mark.skipif(gist_mod.pyfftw is None, reason="pyFFTW not installed")
def test_scipy_fft_engine_agrees():
    img, ref = _ref("astronaut_64", 0, "rgb")
    a = gist(img[None], fft_lib="scipy", n_jobs=1)
    assert np.abs(a[0] - ref).max() <= TOL
    assert np.abs(a - gist(img[None], fft_lib="pyfftw", n_jobs=1)).max() <= 1e-6


# --------------------------------------------------------------------------- output contract
@pytest.fixture(scope="module")
def covers() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)


def test_shapes_and_dtype(covers):
    assert gist(covers).shape == (9, 960) and gist(covers).dtype == np.float32
    assert gist(covers[..., 0]).shape == (9, 320)
    out = gist(covers, nblocks=2, orientations=[6, 5, 4, 3, 2])
    assert out.shape == (9, 3 * 20 * 4) and np.isfinite(out).all()
    assert gist(covers[:0]).shape == (0, 960)


@pytest.mark.parametrize("fft_lib", gist_mod.FFT_LIBS if gist_mod.pyfftw is not None else ("scipy",))
@pytest.mark.parametrize("gray", [False, True])
def test_deterministic_and_batch_independent(covers, fft_lib, gray):
    """Bit for bit: an image's vector must not depend on what it was batched
    with (feature caches and reruns rely on it)."""
    imgs = covers[..., 0] if gray else covers
    a = gist(imgs, n_jobs=1, fft_lib=fft_lib)
    assert np.array_equal(a, gist(imgs, n_jobs=1, fft_lib=fft_lib))
    singles = np.concatenate([gist(imgs[i : i + 1], n_jobs=1, fft_lib=fft_lib) for i in range(len(imgs))])
    assert np.array_equal(singles, a)
    assert np.array_equal(gist(imgs, batch_size=2, n_jobs=2, fft_lib=fft_lib), a)
    flipped = imgs[:, ::-1].copy()[:, ::-1]  # non-contiguous input
    assert np.array_equal(gist(flipped, fft_lib=fft_lib), a)


@pytest.mark.parametrize("value", [0, 128, 255, (10, 200, 30)])
def test_flat_images_give_zeros(value):
    img = np.empty((2, 24, 24, 3), np.uint8)
    img[...] = value
    for batch in (img, img[..., 0]):
        out = gist(batch)
        assert not np.isnan(out).any() and np.all(out == 0)


def test_minimum_size():
    rng = np.random.default_rng(1)
    assert gist(rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)).shape == (1, 960)
    for shape in [(1, 7, 7, 3), (1, 7, 7), (1, 8, 7, 3)]:
        with pytest.raises(ValueError, match=rf"at least 8x8.*got {shape[1]}x{shape[2]}"):
            gist(np.zeros(shape, np.uint8))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"nblocks": 0}, "nblocks"), ({"nblocks": 2.5}, "nblocks"), ({"nblocks": True}, "nblocks"),
        ({"nblocks": 17}, "nblocks=17 leaves empty blocks"),
        ({"orientations": ()}, "at least one scale"), ({"orientations": [8, 0]}, "ints >= 1"),
        ({"orientations": [8, -2]}, "ints >= 1"), ({"orientations": [8.5]}, "ints >= 1"),
        ({"orientations": 8}, "sequence"), ({"orientations": "884"}, "sequence"),
        ({"fc": 0}, "fc"), ({"fc": -4}, "fc"), ({"fc": float("nan")}, "fc"), ({"fc": "4"}, "fc"),
        ({"batch_size": 0}, "batch_size"), ({"n_jobs": 0}, "n_jobs"), ({"n_jobs": -2}, "n_jobs"),
        ({"fft_lib": "numpy"}, "fft_lib"),
    ],
)
def test_bad_params_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gist(np.zeros((1, 16, 16, 3), np.uint8), **kwargs)


@pytest.mark.parametrize(
    "images,match",
    [
        (np.zeros((1, 16, 16, 3), np.float32), "expected uint8 images, got dtype float32"),
        (np.zeros((1, 16, 16, 4), np.uint8), r"\(N, H, W, 3\).*got \(1, 16, 16, 4\)"),
        (np.zeros((16, 16), np.uint8), r"\(N, H, W\).*got \(16, 16\)"),
    ],
)
def test_bad_images_raise(images, match):
    with pytest.raises(ValueError, match=match):
        gist(images)


# --------------------------------------------------------------------------- non-square images
@pytest.mark.parametrize("mode", ["rgb", "gray"])
def test_plain_formula_matches_lear(mode):
    """The float64 transcription used as the non-square oracle is itself right."""
    img, ref = _ref("rocket_32", 0, mode)
    assert np.abs(brute_gist(img, 4, (8, 8, 4)) - ref).max() <= TOL


@pytest.mark.parametrize("shape", [(26, 38, 3), (40, 17)])
def test_non_square_matches_plain_formula(shape):
    img = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_allclose(gist(img[None])[0], brute_gist(img, 4, (8, 8, 4)), rtol=0, atol=TOL)


def test_non_square_transpose_consistency():
    """Transposing the image transposes the block grid and maps orientation
    theta to pi/2 - theta. Mirroring an orientation by pi is exact for real
    images except at the DC bin, where LEAR's filter value depends on the
    orientation, so only those pairs get a loose tolerance. Odd sides keep
    the frequency grid symmetric (no unpaired Nyquist bin)."""
    img = np.random.default_rng(3).integers(0, 256, (1, 27, 45, 3), dtype=np.uint8)
    ors, nb = (8, 6, 4), 3
    a = gist(img, nblocks=nb, orientations=ors).reshape(3, -1, nb, nb)
    b = gist(img.transpose(0, 2, 1, 3), nblocks=nb, orientations=ors).reshape(3, -1, nb, nb)
    start = 0
    for n in ors:
        for j in range(n):
            target = (-np.pi / 2 - np.pi * j / n) % (2 * np.pi)  # partner angle, exact
            exact = target < np.pi - 1e-9
            j2 = int(round((target if exact else target - np.pi) * n / np.pi)) % n
            exact = exact or np.isclose(abs(np.pi * j / n - np.pi / 2), np.pi / 4)  # same DC gain
            expect = a[:, start + j2].transpose(0, 2, 1)
            np.testing.assert_allclose(b[:, start + j], expect, rtol=0, atol=1e-6 if exact else 1e-3)
        start += n
    assert np.abs(a).max() > 0.05  # the comparison is not vacuous


# --------------------------------------------------------------------------- extractor
def test_extractor_contract(covers):
    rgb, gray = GistFeatures(), GistFeatures(mode="gray")
    assert (rgb.n_features(), gray.n_features()) == (960, 320)
    assert rgb.transform(covers).shape == (9, 960)
    assert gray.transform(covers[..., 0]).shape == (9, 320)
    assert np.array_equal(rgb.transform(covers), gist(covers))
    stored = GistFeatures(size=16, nblocks=2, orientations=(4, 4), fc=3, batch_size=7, n_jobs=1)
    assert stored.orientations == (4, 4) and stored.fc == 3 and stored.batch_size == 7  # stored as given
    p = stored.result_params()
    assert p == {"class": "GistFeatures", "size": 16, "mode": "rgb", "nblocks": 2,
                 "orientations": [4, 4], "fc": 3.0, "backend": "numpy"}  # normalised; no speed parameters
    assert GistFeatures(orientations=[8, 8, 4], fc=4.0, n_jobs=2).result_params() == GistFeatures().result_params()
    ext = GistFeatures(size=16, mode="gray", nblocks=2, orientations=[4, 4], fc=3)
    img = np.random.default_rng(4).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    assert ext.transform(img).shape == (3, ext.n_features())
    assert "GistFeatures(" in repr(ext)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ext.transform(covers)


def test_extractor_accepts_listconfig():
    omegaconf = pytest.importorskip("omegaconf")
    ext = GistFeatures(orientations=omegaconf.OmegaConf.create([8, 8, 4]))
    assert list(ext.orientations) == [8, 8, 4] and ext.result_params()["orientations"] == [8, 8, 4]
    assert ext.n_features() == 960 and ext.result_params() == GistFeatures().result_params()
    img = np.random.default_rng(5).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    assert np.array_equal(ext.transform(img), GistFeatures().transform(img))


@pytest.mark.parametrize(
    "kwargs,match",
    [({"size": 7}, "size must be >= 8"), ({"mode": "cmyk"}, "mode"), ({"nblocks": 0}, "nblocks"),
     ({"size": 8, "nblocks": 9}, "exceeds size"), ({"orientations": []}, "at least one scale"),
     ({"fc": 0}, "fc"), ({"backend": "matlab"}, "backend must be one of"), ({"batch_size": 0}, "batch_size"),
     ({"n_jobs": 0}, "n_jobs")],
)
def test_extractor_validates(kwargs, match):
    ext = GistFeatures(**kwargs)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        ext.check()
    with pytest.raises(ValueError, match=match):
        ext.n_features()  # what extraction asks first


@pytest.mark.skipif(HAVE_LEAR, reason="leargist is installed")
def test_lear_backend_missing_is_an_error():
    with pytest.raises(ImportError, match="leargist.*not installed"):
        GistFeatures(backend="lear").check()


@pytest.mark.skipif(not HAVE_LEAR, reason="leargist (LEAR's C GIST for Python 3) not installed")
def test_lear_backend_matches_numpy():
    for stem in ("astronaut_64", "rocket_32"):
        for mode in ("rgb", "gray"):
            img = DATA[f"{mode}__{stem}"][None]
            size = img.shape[1]
            ref = GistFeatures(size=size, mode=mode, backend="lear").transform(img)
            ours = GistFeatures(size=size, mode=mode).transform(img)
            assert np.abs(ref - ours).max() <= TOL
