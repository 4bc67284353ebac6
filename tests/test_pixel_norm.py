"""The seed's first recipe, on hand-made images: 16x16 gray, subtract mean, divide by std."""
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


def test_row_major_layout_and_scaling():
    img = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    v = PixelFeatures(size=16, mode="gray").transform(img)
    np.testing.assert_allclose(v[0], np.arange(256) / 255.0, rtol=1e-6)


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


def test_rgb_pixels_have_three_channels():
    assert PixelFeatures(size=8, mode="rgb").transform(np.zeros((2, 8, 8, 3), np.uint8)).shape == (2, 192)


@pytest.mark.parametrize("kwargs", [dict(size=0), dict(size=16.5), dict(mode="cmyk")])
def test_bad_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        PixelFeatures(**kwargs)


def test_wrong_images_are_rejected_with_shape_in_message():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        PixelFeatures(size=16, mode="gray").transform(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        PixelFeatures(size=16, mode="gray").transform(np.zeros((2, 16, 16), np.float32))


def test_sklearn_norms_keep_zero_rows_finite():
    X = np.vstack([np.zeros(10), np.arange(10.0)]).astype(np.float32)
    for norm in (Normalizer(), StandardScaler(), PCA(n_components=1), RowZScore()):
        assert np.isfinite(norm.fit_transform(X)).all()
