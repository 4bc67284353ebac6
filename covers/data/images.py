"""Decoding covers into the uint8 arrays extractors consume.

Every cover goes through the same steps so that features are comparable:
open -> JPEG draft mode (decode at a reduced scale when the target is small;
Pillow picks a scale >= the requested size, so the following resize still
antialiases) -> EXIF orientation -> RGB (alpha composited on white) ->
antialiased LANCZOS resize to ``size``x``size`` (covers are near-square; a
non-square cover is stretched, not cropped, so nothing of it is lost) ->
ITU-R 601 grayscale via Pillow's ``convert("L")`` when ``mode == "gray"``.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

BACKGROUND = (255, 255, 255)


class CoverDecodeError(ValueError):
    """A cover file could not be turned into pixels."""


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency composited on ``BACKGROUND``."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit gray: scale to 8 bits by the type's range instead of clipping at 255
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr8 = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    return img.convert("RGB")


def decode_cover(path: str | os.PathLike, size: int, mode: str = "gray") -> np.ndarray:
    """One cover file -> uint8 (size, size) for gray or (size, size, 3) for rgb."""
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (size, size))
            img.seek(0)  # animated images: first frame
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = to_rgb(img)  # inside the with: lazy decoders may still read the file
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CoverDecodeError(f"{path}: cannot decode cover ({type(exc).__name__}: {exc})") from exc
    return finish(rgb, size, mode)


def finish(img: Image.Image, size: int, mode: str) -> np.ndarray:
    """Decoded image -> RGB -> antialiased resize to size x size -> uint8 gray or rgb pixels."""
    if mode not in ("gray", "rgb"):
        raise ValueError(f"mode must be 'gray' or 'rgb', got {mode!r}")
    rgb = to_rgb(img)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS)
    if mode == "gray":
        return np.asarray(rgb.convert("L"), dtype=np.uint8)
    return np.asarray(rgb, dtype=np.uint8)
