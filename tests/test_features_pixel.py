"""covers.features.pixel: raw pixels on hand-made images (the seed's first feature: 16x16 gray),
layout, scaling, and the parameters and images it refuses."""
import numpy as np
import pytest

from covers.features.pixel import PixelFeatures


def test_row_major_layout_and_scaling():
    img = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    v = PixelFeatures(size=16, mode="gray").transform(img)
    np.testing.assert_allclose(v[0], np.arange(256) / 255.0, rtol=1e-6)


def test_rgb_pixels_have_three_channels():
    assert PixelFeatures(size=8, mode="rgb").transform(np.zeros((2, 8, 8, 3), np.uint8)).shape == (2, 192)


@pytest.mark.parametrize("kwargs", [dict(size=0), dict(size=16.5), dict(mode="cmyk")])
def test_bad_parameters_are_rejected(kwargs):
    ex = PixelFeatures(**kwargs)  # __init__ only stores
    assert ex.get_params() == {"size": 16, "mode": "gray", **kwargs}
    with pytest.raises(ValueError, match="PixelFeatures: " + next(iter(kwargs))):
        ex.check()
    with pytest.raises(ValueError, match="PixelFeatures"):
        ex.n_features()  # what extraction asks first
    with pytest.raises(ValueError, match="PixelFeatures"):
        ex.transform(np.zeros((1, 16, 16), np.uint8))


def test_wrong_images_are_rejected_with_shape_in_message():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        PixelFeatures(size=16, mode="gray").transform(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        PixelFeatures(size=16, mode="gray").transform(np.zeros((2, 16, 16), np.float32))


