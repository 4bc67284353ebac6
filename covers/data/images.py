"""Decoding covers into the uint8 arrays extractors consume.

Every cover goes through the same steps so that features are comparable:

1. refuse what is not a usable image, with a message naming the file and what is wrong
   (``zero-byte file``, ``not an image``, ``truncated``, ``decompression bomb: ...``, ...);
2. JPEG draft mode: libjpeg decodes at 1/2, 1/4 or 1/8 scale, in the DCT domain. We ask
   for ``DRAFT_REDUCING_GAP`` (2) times the target size, as ``Image.thumbnail`` does, and
   Pillow picks the largest reduction s with ``width // s >= request`` and
   ``height // s >= request``: the drafted image is never smaller than twice the target on
   either side (unless the cover itself is), so the LANCZOS resize of step 5 still does
   the antialiasing. The drafted image is rounded *up* to whole pixels (300 px at 1/8 is
   38 px, of which the cover fills 37.5), so the resize reads exactly the box Pillow
   reports (``draft()``'s return value) - ignoring it shifts and stretches the cover by
   half a block. Measured on 300x300 discogs JPEGs, draft pixels differ from full
   decoding by 1.3 / 0.8 / 0.5 gray levels (mean, of 255) at 16 / 32 / 64 px, for a
   2.5x / 2.6x / 1.9x speed-up (without the box and the gap: 4.4 / 7.1 / 2.5 levels).
   :data:`JPEG_DRAFT` (or ``decode_cover(..., draft=False)``) turns it off
   (``benchmarks/bench_decode.py`` compares both);
3. first frame of animated images;
4. RGB: CMYK by Pillow's plain formula (no ICC colour management), palette / RGB / L with
   a transparent colour and RGBA / LA / PA composited on :data:`BACKGROUND` (white),
   16-bit gray scaled to 8 bits by its range (not clipped at 255), 1-bit to 0/255;
5. antialiased LANCZOS resize to ``size`` x ``size`` (covers are near-square; a non-square
   cover is stretched, not cropped, so nothing of it is lost);
6. EXIF orientation, applied to the small square (a 90-degree turn commutes with a
   resize to a square, and the draft box is in the stored orientation);
7. ITU-R 601 grayscale via Pillow's ``convert("L")`` when ``mode == "gray"``.

Policies (they decide which covers exist, so they are documented here):

* **Truncated files are refused**, never padded. Pillow's default
  (``ImageFile.LOAD_TRUNCATED_IMAGES = False``) raises on a file that ends before its image
  data does; loading it anyway would give a cover whose bottom part is flat grey - an
  artefact of a broken download, not of the artwork - and such artefacts are exactly what
  a pixel feature would pick up. Re-download the file instead (``covers.data.adapters.download``
  writes atomically, so it never leaves one behind). This module does not change that
  Pillow global; if some other code sets it to True, truncated JPEGs load silently.
* **Decompression bombs are refused** before any pixel is decoded: a file whose declared
  size exceeds :data:`MAX_PIXELS` (and, whatever that is set to, anything above Pillow's
  own ``PIL.Image.MAX_IMAGE_PIXELS``, where Pillow would only *warn*) raises
  :class:`CoverDecodeError`. We check the size ourselves instead of turning Pillow's
  ``DecompressionBombWarning`` into an error with ``warnings.catch_warnings``, because
  covers are decoded in threads and the warnings filter list is process-global (not thread
  safe before Python 3.14). If a caller's warnings filter already makes the warning raise,
  that is caught and reported the same way.
* A cover whose EXIF block is unreadable (or whose orientation is not 1-8) is decoded
  without rotation rather than refused:
  the pixels are fine, only their orientation is unknown.
"""
from __future__ import annotations

import os
import re
import stat

import numpy as np
from PIL import Image, UnidentifiedImageError

BACKGROUND = (255, 255, 255)

#: Largest declared image (width * height) we decode. Hi-res cover scans rarely go beyond
#: 6000x6000 (36 MP); 50 MP leaves headroom while bounding the memory of one
#: decode (a 50 MP RGBA PNG is 200 MB, per worker thread). ``None``: only Pillow's own
#: ``PIL.Image.MAX_IMAGE_PIXELS`` applies (still an error here, not a warning).
MAX_PIXELS: int | None = 50_000_000

#: Use JPEG draft mode (reduced-scale DCT decoding). Module-level so a benchmark can turn it
#: off for every decode, including those made through ``FileCovers.decode``.
JPEG_DRAFT: bool = True
#: Draft to at least this many times the target size (Pillow's ``thumbnail`` default).
DRAFT_REDUCING_GAP: float = 2.0
#: Bump when decoding changes the pixels it returns, so caches keyed on it are invalidated.
#: 2: draft box honoured + reducing gap 2; EXIF orientation applied after the resize.
DECODER_VERSION = 2

# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose)
_ORIENT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}

_MODES = ("gray", "rgb")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def decoder_params() -> dict:
    """Everything here that decides which pixels (and which refusals) a cover file gives:
    for cache keys, so features decoded one way are never served for another."""
    return {"decoder_version": DECODER_VERSION, "jpeg_draft": JPEG_DRAFT,
            "draft_reducing_gap": DRAFT_REDUCING_GAP, "max_pixels": MAX_PIXELS}


class CoverDecodeError(ValueError):
    """A cover file could not be turned into pixels (the message names the file and why)."""


def _check_mode(mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"mode must be 'gray' or 'rgb', got {mode!r}")


def _pixel_limit() -> int | None:
    limits = [x for x in (MAX_PIXELS, Image.MAX_IMAGE_PIXELS) if x is not None]
    return min(limits) if limits else None


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency composited on ``BACKGROUND``."""
    if "transparency" in img.info and img.mode in ("P", "L", "RGB"):
        # a palette index / gray level / colour marked transparent (GIF, PNG tRNS)
        img = img.convert("RGBA")
    if img.mode == "RGB":
        return img
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if img.mode in _SIXTEEN_BIT or img.mode == "I":
        # 16/32-bit gray: scale to 8 bits by the type's range instead of clipping at 255.
        # "I" carries no bit depth; values above 255 mean a 16-bit source (16-bit PGM opens
        # as "I"), otherwise it is 8-bit data in a wide type.
        arr = np.asarray(img).astype(np.int64)
        top = 65535 if img.mode in _SIXTEEN_BIT or arr.max(initial=0) > 255 else 255
        arr8 = ((np.clip(arr, 0, top) * 255 + top // 2) // top).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    return img.convert("RGB")  # L, 1 (-> 0/255), CMYK, YCbCr, RGBX, F (clipped), ...


def _orientation(img: Image.Image) -> Image.Transpose | None:
    try:
        return _ORIENT.get(int(img.getexif().get(0x0112, 1)))
    except Exception:  # noqa: BLE001 - broken EXIF: keep the pixels, unrotated (see module doc)
        return None


def _head(path: str | os.PathLike, n: int = 12) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"GIF8": "GIF", b"BM": "BMP",
          b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"RIFF": "RIFF/WebP"}


def _bomb_message(exc: BaseException) -> str:
    nums = re.findall(r"\((\d+) pixels\).*?limit of (\d+)", str(exc))
    if nums:
        return f"decompression bomb: {nums[0][0]} pixels > limit {nums[0][1]} (Pillow's MAX_IMAGE_PIXELS)"
    return f"decompression bomb: {exc}"


def _why(path: str | os.PathLike, exc: BaseException) -> str:
    """What is wrong with the file, in words, from the exception decoding it raised."""
    if isinstance(exc, UnidentifiedImageError):
        head = _head(path)
        kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
        if kind:  # the right magic bytes, then garbage: a damaged file, not a wrong one
            return f"corrupt image header (starts like {kind} but Pillow cannot read it: {head!r})"
        return f"not an image (Pillow cannot identify its format; it starts with {_head(path)!r})"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return _bomb_message(exc)
    text = str(exc)
    if isinstance(exc, (OSError, EOFError)) and "truncated" in text.lower():
        return f"truncated (the file ends before its image data does: {text})"
    if isinstance(exc, SyntaxError):
        return f"corrupt image header ({text})"
    return f"corrupt or unsupported image ({type(exc).__name__}: {text})"


def decode_cover(path: str | os.PathLike, size: int, mode: str = "gray", *,
                 draft: bool | None = None) -> np.ndarray:
    """One cover file -> uint8 (size, size) for gray or (size, size, 3) for rgb.

    Raises :class:`CoverDecodeError` ("<path>: cannot decode cover: <what is wrong>") for
    anything wrong with the file; ``draft`` overrides :data:`JPEG_DRAFT` for this call.
    """
    _check_mode(mode)

    def fail(what: str) -> CoverDecodeError:
        return CoverDecodeError(f"{path}: cannot decode cover: {what}")

    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise fail("no such file") from exc
    except OSError as exc:
        raise fail(f"cannot read the file ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise fail("is a directory, not a file")
    if st.st_size == 0:
        raise fail("zero-byte file")
    use_draft = JPEG_DRAFT if draft is None else draft
    try:
        with Image.open(path) as img:
            limit = _pixel_limit()
            w, h = img.size
            if limit is not None and w * h > limit:
                raise fail(f"decompression bomb: {w}x{h} = {w * h} pixels > limit {limit} "
                           "(covers.data.images.MAX_PIXELS / PIL.Image.MAX_IMAGE_PIXELS)")
            box = None
            if use_draft:  # None for non-JPEG; never below DRAFT_REDUCING_GAP * size (module doc)
                req = max(1, int(size * DRAFT_REDUCING_GAP))
                drafted = img.draft("RGB", (req, req))
                box = drafted[1] if drafted else None
            img.seek(0)  # animated images: first frame
            img.load()
            orientation = _orientation(img)
            rgb = to_rgb(img)  # inside the with: lazy decoders may still read the file
    except CoverDecodeError:
        raise
    except MemoryError:
        raise  # the machine, not the file: let the caller see it
    except Exception as exc:  # noqa: BLE001 - plugins raise anything on malformed files
        raise fail(_why(path, exc)) from exc
    return finish(rgb, size, mode, box=box, orientation=orientation)


def finish(img: Image.Image, size: int, mode: str, *, box: tuple[float, float, float, float] | None = None,
           orientation: Image.Transpose | None = None) -> np.ndarray:
    """Decoded image -> RGB -> antialiased resize of ``box`` (default: all of it) to
    size x size -> ``orientation`` transpose -> uint8 gray or rgb pixels."""
    _check_mode(mode)
    rgb = to_rgb(img)
    if rgb.size != (size, size) or (box is not None and tuple(box) != (0, 0) + rgb.size):
        rgb = rgb.resize((size, size), Image.Resampling.LANCZOS, box=box)
    if orientation is not None:
        rgb = rgb.transpose(orientation)
    if mode == "gray":
        return np.asarray(rgb.convert("L"), dtype=np.uint8)
    return np.asarray(rgb, dtype=np.uint8)
