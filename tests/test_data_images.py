"""covers.data.images (and the cover sources' decode, covers.data.sources): every image mode real
covers come in, with the pixels we can know, and every bad input refused with a message naming
the file and what is wrong. All fixtures are generated here, under tmp_path."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from covers.data import images
from covers.data.images import CoverDecodeError, decode_cover, finish, to_rgb
from covers.data.sources import FileCovers


def save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def close(a, b, tol):
    return np.abs(np.asarray(a, float) - np.asarray(b, float)).max() <= tol


# --------------------------------------------------------------------------- modes
def test_rgb_jpeg_any_size_and_shape(tmp_path):
    for w, h in [(3, 3), (300, 300), (1000, 700), (50, 400)]:
        p = save(Image.new("RGB", (w, h), (200, 30, 60)), tmp_path / f"c{w}x{h}.jpg", quality=95)
        rgb = decode_cover(p, 16, "rgb")
        assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
        assert close(rgb.reshape(-1, 3).mean(0), (200, 30, 60), 4)
        gray = decode_cover(p, 16, "gray")
        assert gray.shape == (16, 16)
        assert close(gray, round(0.299 * 200 + 0.587 * 30 + 0.114 * 60), 4)  # ITU-R 601


def test_greyscale(tmp_path):
    p = save(Image.new("L", (40, 40), 77), tmp_path / "g.png")
    assert (decode_cover(p, 8, "gray") == 77).all()
    assert (decode_cover(p, 8, "rgb") == 77).all()
    pj = save(Image.new("L", (64, 64), 200), tmp_path / "g.jpg")
    assert close(decode_cover(pj, 8, "gray"), 200, 2)


def test_cmyk_pure_cyan(tmp_path):
    cyan = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    # Pillow's plain CMYK -> RGB (no ICC): R = 255 - C - K, G = 255 - M - K, B = 255 - Y - K
    assert (decode_cover(save(cyan, tmp_path / "c.tif"), 8, "rgb") == (0, 255, 255)).all()
    assert close(decode_cover(save(cyan, tmp_path / "c.jpg", quality=100), 8, "rgb"), (0, 255, 255), 3)
    black = Image.new("CMYK", (32, 32), (0, 0, 0, 255))
    assert (decode_cover(save(black, tmp_path / "k.tif"), 8, "gray") == 0).all()


def test_palette_without_transparency(tmp_path):
    p = Image.new("P", (20, 20), 1)
    p.putpalette([0, 0, 0, 10, 200, 90] + [0] * 762)
    out = decode_cover(save(p, tmp_path / "p.png"), 8, "rgb")
    assert (out == (10, 200, 90)).all()
    assert (decode_cover(save(p, tmp_path / "p.gif"), 8, "rgb") == (10, 200, 90)).all()


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_palette_with_transparency_is_white(tmp_path, ext):
    p = Image.new("P", (20, 20), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p.paste(1, (0, 0, 20, 10))  # top half index 1 (blue, opaque), bottom index 0 (transparent)
    path = save(p, tmp_path / f"t.{ext}", transparency=0)
    with Image.open(path) as im:
        assert im.mode == "P" and "transparency" in im.info
    out = decode_cover(path, 20, "rgb")
    assert (out[:10] == (0, 0, 255)).all()
    assert (out[10:] == 255).all()


def test_rgba_la_composited_on_white(tmp_path):
    half = save(Image.new("RGBA", (16, 16), (255, 0, 0, 128)), tmp_path / "h.png")
    assert close(decode_cover(half, 8, "rgb"), (255, 127, 127), 1)
    clear = save(Image.new("RGBA", (16, 16), (0, 0, 0, 0)), tmp_path / "c.png")
    assert (decode_cover(clear, 8, "rgb") == 255).all()
    la = Image.new("LA", (16, 16), (0, 255))
    la.paste((0, 0), (0, 8, 16, 16))  # bottom half transparent black
    out = decode_cover(save(la, tmp_path / "la.png"), 16, "gray")
    assert (out[:8] == 0).all() and (out[8:] == 255).all()


def test_rgb_and_gray_with_a_transparent_colour(tmp_path):
    rgb = Image.new("RGB", (16, 16), (10, 20, 30))
    assert (decode_cover(save(rgb, tmp_path / "r.png", transparency=(10, 20, 30)), 8, "rgb") == 255).all()
    gray = Image.new("L", (16, 16), 7)
    assert (decode_cover(save(gray, tmp_path / "l.png", transparency=7), 8, "gray") == 255).all()


def test_sixteen_bit_scaled_to_eight(tmp_path):
    arr = np.zeros((8, 8), np.uint16)
    arr[:, 2:4], arr[:, 4:6], arr[:, 6:] = 257 * 100, 32768, 65535
    p = save(Image.fromarray(arr), tmp_path / "g16.png")
    with Image.open(p) as im:
        assert im.mode == "I;16"
    out = decode_cover(p, 8, "gray")
    assert out[0].tolist() == [0, 0, 100, 100, 128, 128, 255, 255]  # scaled, not clipped at 255
    pgm = save(Image.fromarray(arr), tmp_path / "g16.pgm")  # opens as mode "I"
    assert decode_cover(pgm, 8, "gray")[0].tolist() == [0, 0, 100, 100, 128, 128, 255, 255]
    # an "I" image holding 8-bit values is not darkened
    assert (to_rgb(Image.fromarray(np.full((4, 4), 200, np.int32), "I")).getpixel((0, 0))) == (200, 200, 200)


def test_one_bit_is_0_or_255(tmp_path):
    img = Image.new("1", (8, 8), 0)
    img.paste(1, (0, 0, 4, 8))
    out = decode_cover(save(img, tmp_path / "b.png"), 8, "gray")
    assert set(np.unique(out)) == {0, 255}
    assert (out[:, :4] == 255).all() and (out[:, 4:] == 0).all()
    assert set(np.unique(decode_cover(save(img, tmp_path / "b.bmp"), 8, "rgb"))) == {0, 255}


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_exif_orientation_6_rotates(tmp_path, ext):
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))  # stored: left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": stored left becomes top
    p = save(img, tmp_path / f"o.{ext}", exif=exif, **({"quality": 95} if ext == "jpg" else {}))
    out = decode_cover(p, 16, "rgb").astype(int)
    assert close(out[:6].reshape(-1, 3).mean(0), (255, 0, 0), 12)  # top: red
    assert close(out[-6:].reshape(-1, 3).mean(0), (0, 0, 255), 12)  # bottom: blue
    unrotated = np.asarray(Image.open(p).convert("RGB").resize((16, 16)), int)
    assert unrotated[:, :6, 0].mean() > 200  # without EXIF handling, red would be on the left


def test_broken_exif_keeps_the_pixels(tmp_path):
    img = Image.new("RGB", (16, 16), (0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 99  # not an orientation: decoded as stored
    assert close(decode_cover(save(img, tmp_path / "e.jpg", exif=exif), 8, "rgb"), (0, 200, 0), 4)


@pytest.mark.parametrize("ext", ["gif", "png", "webp"])
def test_animated_first_frame(tmp_path, ext):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    kw = {"lossless": True} if ext == "webp" else {}
    p = save(frames[0], tmp_path / f"a.{ext}", save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    with Image.open(p) as im:
        assert getattr(im, "n_frames", 1) == 3
    assert close(decode_cover(p, 8, "rgb"), (255, 0, 0), 2)


def test_draft_never_goes_below_twice_the_target(tmp_path, monkeypatch):
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (1000, 600, 3), np.uint8))
    p = save(big, tmp_path / "big.jpg")  # 600 wide, 1000 high
    seen = []
    real = images.finish
    monkeypatch.setattr(images, "finish", lambda img, size, mode, **kw: (seen.append((img.size, kw["box"])),
                                                                        real(img, size, mode, **kw))[1])
    for size, scale in [(16, 8), (32, 8), (64, 4), (100, 2), (200, 1), (400, 1)]:
        decode_cover(p, size, "gray")
        drafted, box = seen[-1]
        assert drafted == (600 // scale, 1000 // scale)  # the largest 1/8, 1/4, 1/2 reduction keeping both
        assert min(drafted) >= min(2 * size, 600)        # sides >= DRAFT_REDUCING_GAP * size
        assert box == (0, 0, 600 / scale, 1000 / scale)
    decode_cover(p, 16, "gray", draft=False)
    assert seen[-1] == ((600, 1000), None)
    monkeypatch.setattr(images, "JPEG_DRAFT", False)
    decode_cover(p, 16, "gray")
    assert seen[-1] == ((600, 1000), None)


def smooth_cover(seed: int, w: int = 300, h: int = 300) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (12, 12, 3), np.uint8)).resize((w, h), Image.Resampling.BICUBIC)


def test_draft_and_full_decoding_agree(tmp_path):
    # 300 px is not a multiple of 8: the drafted image is 38 px of which the cover fills 37.5;
    # reading draft()'s box keeps it from shifting (ignoring the box gave 4-7 gray levels off)
    for seed in range(3):
        p = save(smooth_cover(seed), tmp_path / f"s{seed}.jpg", quality=95)
        for size in (16, 32, 64):
            for mode in ("gray", "rgb"):
                a = decode_cover(p, size, mode).astype(float)
                b = decode_cover(p, size, mode, draft=False).astype(float)
                assert np.abs(a - b).mean() < 1.5, (seed, size, mode)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_with_and_without_draft(tmp_path, orientation):
    from PIL import ImageOps

    img = smooth_cover(orientation, 320, 200)
    img.paste((255, 0, 0), (0, 0, 60, 60))  # a marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = save(img, tmp_path / "o.jpg", exif=exif, quality=95)
    with Image.open(p) as im:
        upright = ImageOps.exif_transpose(im.convert("RGB"))
    want = np.asarray(upright.resize((32, 32), Image.Resampling.LANCZOS), float)
    for draft in (True, False):
        got = decode_cover(p, 32, "rgb", draft=draft).astype(float)
        assert np.abs(got - want).mean() < 1.5, (orientation, draft)


def test_finish_and_to_rgb(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        finish(Image.new("RGB", (4, 4)), 4, "hsv")
    with pytest.raises(ValueError, match="mode must be"):
        decode_cover(tmp_path / "whatever.png", 4, "cmyk")
    assert to_rgb(Image.new("RGB", (2, 2))).mode == "RGB"
    assert to_rgb(Image.new("YCbCr", (2, 2))).mode == "RGB"


# --------------------------------------------------------------------------- bad inputs
def jpeg_bytes(size=(200, 200)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, size + (3,), np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def refused(path, size=16, mode="gray") -> str:
    with pytest.raises(CoverDecodeError) as info:
        decode_cover(path, size, mode)
    msg = str(info.value)
    assert msg.startswith(f"{path}: cannot decode cover: "), msg
    return msg[len(f"{path}: cannot decode cover: "):]  # what is wrong (tmp_path names hold test names)


def test_zero_byte_missing_and_not_an_image(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert refused(tmp_path / "empty.jpg").endswith("zero-byte file")
    assert refused(tmp_path / "gone.jpg").endswith("no such file")
    (tmp_path / "page.jpg").write_bytes(b"<!DOCTYPE html><html>Rate limited</html>")
    msg = refused(tmp_path / "page.jpg")
    assert msg.startswith("not an image (Pillow cannot identify its format") and "<!DOCTYPE" in msg
    (tmp_path / "text.png").write_text("hello")
    assert refused(tmp_path / "text.png").startswith("not an image")


def test_truncated_files_are_refused(tmp_path):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # the policy relies on Pillow's default
    data = jpeg_bytes()
    for name, cut in [("half.jpg", len(data) // 2), ("no_eoi.jpg", len(data) - 2)]:
        (tmp_path / name).write_bytes(data[:cut])
        assert refused(tmp_path / name).startswith("truncated (the file ends before its image data does")
        assert refused(tmp_path / name, 200, "rgb").startswith("truncated")  # with and without draft scaling
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (100, 100, 3), np.uint8)).save(buf, "PNG")
    (tmp_path / "half.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert refused(tmp_path / "half.png").startswith("truncated")


def test_corrupt_header(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)  # JPEG magic, then nothing sane
    assert "corrupt image header (starts like JPEG" in refused(tmp_path / "bad.jpg")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x07" * 300)
    assert refused(tmp_path / "bad.png").startswith("corrupt image header (starts like PNG")
    (tmp_path / "seg.jpg").write_bytes(b"\xff\xd8\xff\xdb" + b"\x07" * 300)  # segment longer than the file
    assert refused(tmp_path / "seg.jpg").startswith("truncated")
    (tmp_path / "dir.jpg").mkdir()
    assert refused(tmp_path / "dir.jpg").endswith("is a directory, not a file")


def test_decompression_bomb_by_our_limit(tmp_path, monkeypatch):
    p = save(Image.new("RGB", (40, 30), 0), tmp_path / "bomb.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    assert refused(p).endswith("decompression bomb: 40x30 = 1200 pixels > limit 1000 "
                               "(covers.data.images.MAX_PIXELS / PIL.Image.MAX_IMAGE_PIXELS)")
    monkeypatch.setattr(images, "MAX_PIXELS", 1200)
    assert decode_cover(p, 8).shape == (8, 8)


def test_pillow_bomb_warning_is_an_error_too(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    warn = save(Image.new("RGB", (40, 30), 0), tmp_path / "warn.png")  # 1200: Pillow only warns
    with pytest.warns(Image.DecompressionBombWarning):
        assert refused(warn).startswith("decompression bomb: 40x30 = 1200 pixels > limit 1000")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a caller's filter that makes Pillow raise the warning
        assert refused(warn).startswith("decompression bomb: 1200 pixels > limit 1000")
    err = save(Image.new("RGB", (50, 50), 0), tmp_path / "err.png")  # 2500 > 2x: Pillow raises
    assert refused(err).startswith("decompression bomb: 2500 pixels > limit 2000")


def test_file_covers_decode_reports_every_failure(tmp_path):
    good = save(Image.new("RGB", (20, 20), (9, 9, 9)), tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.jpg").write_bytes(jpeg_bytes()[:500])
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    paths = [good, tmp_path / "empty.png", tmp_path / "cut.jpg", tmp_path / "junk.jpg"] * 20  # threads
    pix, failed = FileCovers(paths).decode(range(len(paths)), 8, "rgb", n_jobs=2, on_error="skip")
    assert len(failed) == 60 and (pix[0] == 9).all() and (pix[1] == 0).all()
    whats = {m.split(": cannot decode cover: ")[1].split(" ")[0] for _, m in failed}
    assert whats == {"zero-byte", "truncated", "not"}
    with pytest.raises(CoverDecodeError, match="empty.png: cannot decode cover: zero-byte file"):
        FileCovers(paths[:2]).decode(range(2), 8, "rgb", on_error="fail")


def test_decode_modes_and_failures(tmp_path):
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent -> white background
    rgba.save(tmp_path / "t.png")
    assert (decode_cover(tmp_path / "t.png", 8, "rgb") == 255).all()
    Image.new("L", (30, 10), 128).save(tmp_path / "g.png")  # non-square gray is stretched
    assert decode_cover(tmp_path / "g.png", 8, "rgb").shape == (8, 8, 3)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    paths = [tmp_path / "t.png", tmp_path / "empty.png", tmp_path / "g.png", tmp_path / "junk.jpg"]
    pix, failed = FileCovers(paths).decode(range(4), 8, "gray", on_error="skip")
    assert [i for i, _ in failed] == [1, 3]
    assert "empty.png: cannot decode cover" in failed[0][1]
    assert pix.shape == (4, 8, 8) and (pix[0] == 255).all()
    with pytest.raises(ValueError, match="junk.jpg"):
        FileCovers(paths[3:]).decode(range(1), 8, "gray", on_error="fail")


def test_jpeg_draft_decoding_is_close_to_full_decoding(tmp_path):
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).resize((300, 300))
    small = big.resize((30, 30), Image.Resampling.BILINEAR).resize((300, 300), Image.Resampling.BICUBIC)
    small.save(tmp_path / "c.jpg", quality=95)
    got = decode_cover(tmp_path / "c.jpg", 16, "gray").astype(float)
    with Image.open(tmp_path / "c.jpg") as im:
        full = np.asarray(im.convert("RGB").resize((16, 16), Image.Resampling.LANCZOS).convert("L"), float)
    assert np.abs(got - full).mean() < 3.0
