"""covers.norm: the seed's per-cover z-score on hand-made images, scikit-learn's normalisers on
zero rows, and fit_transform_rows (chunked, memory-mapped) giving exactly the one-call result
and naming a cover when the output is not finite."""
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.preprocessing import Normalizer, StandardScaler

from covers.features.pixel import PixelFeatures
from covers.norm import RowZScore


def seed_recipe(images):
    return RowZScore().fit_transform(PixelFeatures(size=16, mode="gray").transform(images))


def test_half_black_half_white_gives_plus_minus_one():
    img = np.zeros((1, 16, 16), np.uint8)
    img[0, :, 8:] = 255
    v = seed_recipe(img)
    assert v.shape == (1, 256) and v.dtype == np.float32
    # mean 0.5, std 0.5 -> exactly -1 on the black half, +1 on the white half
    np.testing.assert_allclose(v[0].reshape(16, 16)[:, :8], -1.0, atol=1e-6)
    np.testing.assert_allclose(v[0].reshape(16, 16)[:, 8:], 1.0, atol=1e-6)


def test_zscore_matches_numpy_and_is_invariant_to_brightness_and_contrast():
    rng = np.random.default_rng(0)
    imgs = rng.integers(40, 200, size=(5, 16, 16), dtype=np.uint8)
    v = seed_recipe(imgs)
    x = imgs.reshape(5, -1).astype(np.float64)
    ref = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    np.testing.assert_allclose(v, ref, atol=1e-5)
    brighter = (imgs.astype(np.int32) // 2 + 20).astype(np.uint8)  # affine change of the same picture (up to rounding)
    assert np.corrcoef(seed_recipe(brighter)[0], v[0])[0, 1] > 0.99


def test_flat_cover_gives_zeros_not_nan():
    v = seed_recipe(np.full((2, 16, 16), 77, np.uint8))
    assert np.isfinite(v).all() and (v == 0).all()


def test_sklearn_norms_keep_zero_rows_finite():
    X = np.vstack([np.zeros(10), np.arange(10.0)]).astype(np.float32)
    for norm in (Normalizer(), StandardScaler(), PCA(n_components=1), RowZScore()):
        assert np.isfinite(norm.fit_transform(X)).all()


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(3000, 24)).astype(np.float32)


def test_normalisation_in_chunks_is_exact(tmp_path, X):
    from covers.norm import fit_transform_rows

    np.save(tmp_path / "x.npy", X)
    M = np.load(tmp_path / "x.npy", mmap_mode="r")
    out_dir = tmp_path / "scratch"
    for norm in (RowZScore(), Normalizer(), StandardScaler(), PCA(5, random_state=0)):
        ref = np.asarray(type(norm)(**norm.get_params()).fit_transform(X), dtype=np.float32)
        got = fit_transform_rows(norm, M, str, rows=256, out_dir=out_dir)
        assert got.dtype == np.float32 and np.array_equal(got, ref), type(norm).__name__
    # the row-by-row ones wrote into a memory map of a file already unlinked: nothing left on disk
    assert isinstance(fit_transform_rows(RowZScore(), M, str, rows=256, out_dir=out_dir), np.memmap)
    assert list(out_dir.iterdir()) == []


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_non_finite_output_names_a_cover_and_counts_them():
    from sklearn.preprocessing import FunctionTransformer

    from covers.norm import fit_transform_rows

    X = np.ones((600, 3), np.float32)
    X[[7, 300, 301], 1] = 0.0  # log(0) = -inf in three covers
    for rows in (100, 65536):  # chunked, and one call
        with pytest.raises(FloatingPointError, match=r"non-finite values for 3 covers, e\.g\. cover #7$"):
            fit_transform_rows(FunctionTransformer(np.log), X, lambda i: f"cover #{i}", rows=rows)
