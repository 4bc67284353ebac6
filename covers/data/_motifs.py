"""Overlays that plant a within-genre signal on a synthetic cover: a sub-style marker and an
artist's visual identity (used by :func:`covers.data.synthetic.render_item_cover`).

Both are pure functions of the cover, the item's planted attributes and (for the artist) a
generator seeded by the artist alone, so a procedural world draws exactly what a stored one holds.

*Sub-style marker* (``substyle_visual``). The cover's values are first squeezed into
``[HEADROOM, 255 - HEADROOM]`` so that adding ``+-AMP`` (and a resize's ringing on top) never clips:
clipping would shift local means, and with them the 16x16 pixels:

- ``coarse``: one half of the cover is lightened by ``AMP`` and the other darkened by ``AMP``
  (top lighter for sub-style 0, bottom lighter for 1): a layout change a 16x16 thumbnail shows;
- ``texture``: stripes of ``+-AMP``, horizontal for sub-style 0 and vertical for 1, with a period
  of ``size / 16`` pixels (8 at 128 px). Every 16x16 output pixel then averages whole periods
  (the antialiased resize's weights sum to one over each phase; the stripes fade out towards the
  edges, where the kernel is cut off), so both sub-styles give the same 16x16 pixels to within a
  fraction of a grey level; at 32 px (GIST's default size) the stripes are at the Nyquist frequency, where
  GIST's finest Gabor filters still respond, and their orientation tells the sub-styles apart.

*Artist identity* (``artist_visual`` in [0, 1]). Each artist has a colour, a second colour and a
frame width; the cover is tinted towards the colour, framed in it and given a corner badge in the
second colour, all blended with weight ``artist_visual``: visible to pixels and to GIST alike.
"""
from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

VISUALS = ("coarse", "texture")
AMP = 40.0            #: marker amplitude in grey levels
HEADROOM = AMP + 16.0  #: values are squeezed into [HEADROOM, 255 - HEADROOM]: the resize's ringing must not clip
TEXTURE_CELLS = 16    #: the texture's period is size / TEXTURE_CELLS (one period per 16x16 pixel)
RAMP = 3 / 16         #: the texture fades in over this fraction of the side from each edge
BADGE = 0.22          #: the artist badge's side, as a fraction of the cover's


def check_visual(visual: str, size: int) -> None:
    if visual not in VISUALS:
        raise ValueError(f"substyle_visual must be one of {VISUALS}, got {visual!r}")
    if visual == "texture" and size % (2 * TEXTURE_CELLS):
        raise ValueError(f"substyle_visual='texture' needs image_size divisible by {2 * TEXTURE_CELLS} "
                         f"(whole stripe periods per 16x16 pixel), got {size}")


def _squeeze(arr: np.ndarray) -> np.ndarray:
    return HEADROOM + arr * ((255.0 - 2 * HEADROOM) / 255.0)


def substyle_pattern(visual: str, substyle: int, size: int) -> np.ndarray:
    """The +-1 pattern (size, size) the marker adds, times ``AMP``."""
    check_visual(visual, size)
    c = np.arange(size)
    if visual == "coarse":
        wave = np.where(c < size // 2, 1.0, -1.0)
    else:
        half = size // TEXTURE_CELLS // 2
        # stripes fade out smoothly towards the edges: where a resize kernel is cut off by the
        # border its weights no longer sum to one over each phase, and a hard edge would show
        edge = np.minimum(c + 0.5, size - c - 0.5) / (RAMP * size)
        wave = np.where((c // half) % 2 == 0, 1.0, -1.0) * np.sin(np.pi / 2 * np.clip(edge, 0, 1)) ** 2
    rows = np.broadcast_to(wave[:, None], (size, size))  # varies down the cover: horizontal bands
    if visual == "coarse":
        return rows if substyle == 0 else -rows
    return rows if substyle == 0 else rows.T


def draw_substyle(img: Image.Image, visual: str, substyle: int) -> Image.Image:
    """``img`` with the sub-style marker of ``substyle`` (0 or 1) added."""
    if substyle not in (0, 1):
        raise ValueError(f"sub-style must be 0 or 1, got {substyle!r}")
    size = img.size[0]
    arr = _squeeze(np.asarray(img, np.float32)) + AMP * substyle_pattern(visual, substyle, size)[..., None]
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def artist_look(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, int]:
    """An artist's colour, second colour, frame width (fraction of the side) and badge corner."""
    h = rng.random()
    col = colorsys.hsv_to_rgb(h, rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))
    col2 = colorsys.hsv_to_rgb((h + rng.uniform(0.3, 0.7)) % 1.0, rng.uniform(0.5, 1.0), rng.uniform(0.3, 1.0))
    return (np.asarray(col, np.float32) * 255, np.asarray(col2, np.float32) * 255,
            float(rng.uniform(0.04, 0.12)), int(rng.integers(0, 4)))


def draw_artist(img: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """``img`` tinted, framed and badged in the look the artist's ``rng`` draws, with weight ``strength``."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"artist_visual must be in [0, 1], got {strength!r}")
    col, col2, frame, corner = artist_look(rng)
    s = img.size[0]
    arr = np.asarray(img, np.float32)
    over = arr * 0.5 + col * 0.5                          # the tint: half-way to the artist's colour
    f = max(1, round(frame * s))
    over[:f], over[-f:], over[:, :f], over[:, -f:] = col, col, col, col
    b = max(2, round(BADGE * s))
    ys = slice(f, f + b) if corner < 2 else slice(s - f - b, s - f)
    xs = slice(f, f + b) if corner % 2 == 0 else slice(s - f - b, s - f)
    over[ys, xs] = col2
    out = arr * (1.0 - strength) + over * strength
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
