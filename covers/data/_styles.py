"""Procedural album-cover styles for the synthetic cover world.

One drawing function per genre. Each takes a ``numpy.random.Generator`` and a
square side and returns an RGB :class:`PIL.Image.Image`; everything random
comes from that generator, so a cover is a pure function of (style, generator
state, size). Coordinates are expressed as fractions of the side so a style
looks the same at any size (>= 16 px).

The styles are caricatures of what covers of a genre tend to look like; they
are meant to be separable by simple image features *on average* while varying
a lot within a style (palettes, positions, scales, "title text" bars).
"""
from __future__ import annotations

import colorsys
import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]

BLACK: RGB = (12, 12, 12)
WHITE: RGB = (242, 240, 233)


# --------------------------------------------------------------------------- helpers
def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    x, y = np.meshgrid(c, c)
    return x, y


def _blend(t: np.ndarray, c1: RGB, c2: RGB) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)[..., None]
    return np.asarray(c1, np.float32) * (1.0 - t) + np.asarray(c2, np.float32) * t


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def _linear(size: int, c1: RGB, c2: RGB, angle: float) -> np.ndarray:
    """Linear gradient c1 -> c2 along ``angle`` (radians), float32 (H, W, 3)."""
    x, y = _grid(size)
    ca, sa = math.cos(angle), math.sin(angle)
    t = (ca * (x - 0.5) + sa * (y - 0.5)) / (0.5 * (abs(ca) + abs(sa))) * 0.5 + 0.5
    return _blend(t, c1, c2)


def _radial(size: int, c1: RGB, c2: RGB, cx: float, cy: float, r: float) -> np.ndarray:
    x, y = _grid(size)
    return _blend(np.hypot(x - cx, y - cy) / r, c1, c2)


def _type_bar(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x0: float, y0: float,
              width: float, height: float, fill: RGB, lines: int = 1) -> None:
    """Stripes that read as type: letters are bars, words are separated by gaps."""
    line_h = height / lines
    cap = max(1.0, line_h * 0.78)
    n = 96
    widths = rng.uniform(0.22, 0.62, n) * cap
    tall = rng.random(n) < 0.35           # ascenders / capitals
    space = rng.random(n) < 0.16          # word gaps
    k = 0
    for line in range(lines):
        base = y0 + line * line_h + cap
        x = x0
        end = x0 + width * (1.0 if line == lines - 1 or lines == 1 else _u(rng, 0.7, 1.0))
        while k < n:
            w = max(1.0, widths[k])
            if x + w > end:
                break
            if space[k]:
                x += cap * 0.45
            else:
                h = cap if tall[k] else cap * 0.68
                x0r, y0r = round(x), round(base - h)
                draw.rectangle([x0r, y0r, max(x0r, round(x + w) - 1), max(y0r, round(base) - 1)],
                               fill=fill)
                x += w + max(1.0, cap * 0.14)
            k += 1


def _rot_rect(cx: float, cy: float, w: float, h: float, angle: float) -> list[tuple[float, float]]:
    ca, sa = math.cos(angle), math.sin(angle)
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return [(cx + px * ca - py * sa, cy + px * sa + py * ca) for px, py in pts]


def _star(cx: float, cy: float, r_out: float, r_in: float, n: int,
          rng: np.random.Generator) -> list[tuple[float, float]]:
    """Jagged star polygon with ``n`` irregular spikes."""
    ang = np.sort(rng.uniform(0.0, 2 * math.pi, 2 * n))
    rad = np.where(np.arange(2 * n) % 2 == 0, r_out * rng.uniform(0.55, 1.0, 2 * n),
                   r_in * rng.uniform(0.4, 1.0, 2 * n))
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(ang, rad)]


# --------------------------------------------------------------------------- styles
def minimal_techno(rng: np.random.Generator, s: int) -> Image.Image:
    """A light circle on a dark, nearly black field (the 2014 case that worked)."""
    bg = _hsv(_u(rng, 0, 1), _u(rng, 0.0, 0.5), _u(rng, 0.0, 0.09))
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    r = _u(rng, 0.15, 0.30) * s
    cx, cy = (0.5 + _u(rng, -0.1, 0.1)) * s, (0.5 + _u(rng, -0.1, 0.1)) * s
    fg = _hsv(_u(rng, 0, 1), _u(rng, 0.0, 0.18), _u(rng, 0.85, 1.0))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    if rng.random() < 0.25:  # vinyl-label hole: a thick ring
        ri = r * _u(rng, 0.25, 0.55)
        d.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=bg)
    if rng.random() < 0.5:   # tiny dim catalogue number in a corner
        grey = _hsv(0, 0, _u(rng, 0.3, 0.55))
        y = (0.88 if rng.random() < 0.5 else 0.06) * s
        _type_bar(d, rng, 0.06 * s, y, _u(rng, 0.15, 0.3) * s, 0.035 * s + 1, grey)
    return img


def metal(rng: np.random.Generator, s: int) -> Image.Image:
    """Dark high-frequency jagged texture, spiky shapes, a jagged logo bar."""
    hue = rng.choice([0.0, 0.0, 0.6, 0.33, 0.08]) + _u(rng, -0.03, 0.03)
    fine = rng.random((s, s), dtype=np.float32)
    q = max(2, s // 16)
    coarse = rng.random((s // q + 1, s // q + 1), dtype=np.float32)
    coarse = np.kron(coarse, np.ones((q, q), np.float32))[:s, :s]
    tex = 0.04 + _u(rng, 0.15, 0.3) * (0.65 * fine + 0.35 * coarse)
    tint = np.asarray(_hsv(hue, _u(rng, 0.2, 0.7), 1.0), np.float32)
    img = _to_image(tex[..., None] * tint)
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = _u(rng, 0.1, 0.9) * s, _u(rng, 0.25, 1.0) * s
        ro = _u(rng, 0.12, 0.4) * s
        col = _hsv(hue, _u(rng, 0.0, 0.6), _u(rng, 0.12, 0.45))
        d.polygon(_star(cx, cy, ro, ro * 0.35, int(rng.integers(7, 20)), rng), fill=col)
    for _ in range(int(rng.integers(1, 4))):  # cracks / lightning
        x, y = _u(rng, 0, 1) * s, _u(rng, 0, 1) * s
        pts = [(x, y)]
        for _ in range(8):
            x += _u(rng, -0.12, 0.12) * s
            y += _u(rng, -0.12, 0.12) * s
            pts.append((x, y))
        d.line(pts, fill=_hsv(hue, 0.2, _u(rng, 0.5, 0.85)), width=1)
    if rng.random() < 0.85:  # jagged logo bar
        x0, x1 = _u(rng, 0.05, 0.2) * s, _u(rng, 0.8, 0.95) * s
        yc, hh = _u(rng, 0.1, 0.25) * s, _u(rng, 0.05, 0.09) * s
        n = max(4, int((x1 - x0) / max(2.0, s / 40)))
        xs = np.linspace(x0, x1, n)
        top = yc - hh - rng.uniform(0, 1.6, n) ** 2 * hh
        bot = yc + hh + rng.uniform(0, 1.6, n) ** 2 * hh
        poly = list(zip(xs, top)) + list(zip(xs[::-1], bot[::-1]))
        logo = _hsv(hue, _u(rng, 0.0, 0.8), _u(rng, 0.7, 1.0))
        d.polygon(poly, fill=logo)
    return img


def ambient(rng: np.random.Generator, s: int) -> Image.Image:
    """Soft low-frequency colour gradients and blurred blobs."""
    h = _u(rng, 0, 1)
    sat, val = _u(rng, 0.1, 0.45), _u(rng, 0.45, 0.9)
    c1 = _hsv(h, sat, val)
    c2 = _hsv(h + _u(rng, -0.18, 0.18), _u(rng, 0.1, 0.45), _u(rng, 0.45, 0.95))
    img = _to_image(_linear(s, c1, c2, _u(rng, 0, 2 * math.pi)))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 5))):
        r = _u(rng, 0.12, 0.35) * s
        cx, cy = _u(rng, 0, 1) * s, _u(rng, 0, 1) * s
        col = _hsv(h + _u(rng, -0.2, 0.2), _u(rng, 0.1, 0.5), _u(rng, 0.4, 1.0))
        d.ellipse([cx - r, cy - r * _u(rng, 0.6, 1.4), cx + r, cy + r], fill=col)
    img = img.filter(ImageFilter.GaussianBlur(_u(rng, 0.08, 0.14) * s))
    if rng.random() < 0.3:
        d = ImageDraw.Draw(img)
        light = _hsv(h, 0.1, min(1.0, val + 0.25))
        _type_bar(d, rng, _u(rng, 0.08, 0.4) * s, _u(rng, 0.75, 0.88) * s, 0.3 * s, 0.04 * s + 1, light)
    return img


def jazz(rng: np.random.Generator, s: int) -> Image.Image:
    """Flat two-tone blocks and bars of type (Blue Note-ish)."""
    h = rng.choice([0.58, 0.62, 0.08, 0.12, 0.0, 0.5, 0.14]) + _u(rng, -0.03, 0.03)
    bg = _hsv(h, _u(rng, 0.35, 0.85), _u(rng, 0.45, 0.9))
    fg = BLACK if rng.random() < 0.4 else (
        WHITE if rng.random() < 0.4 else _hsv(h + 0.5, _u(rng, 0.4, 0.9), _u(rng, 0.5, 0.95)))
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    layout = int(rng.integers(0, 3))
    if layout == 0:    # side panel
        w = _u(rng, 0.25, 0.55) * s
        x = 0 if rng.random() < 0.5 else s - w
        d.rectangle([x, 0, x + w, s], fill=fg)
    elif layout == 1:  # band
        hh = _u(rng, 0.2, 0.45) * s
        y = _u(rng, 0.0, 1.0) * (s - hh)
        d.rectangle([0, y, s, y + hh], fill=fg)
    else:              # stacked blocks
        for _ in range(int(rng.integers(2, 4))):
            x, y = _u(rng, 0, 0.6) * s, _u(rng, 0, 0.6) * s
            d.rectangle([x, y, x + _u(rng, 0.2, 0.5) * s, y + _u(rng, 0.15, 0.4) * s], fill=fg)
    for _ in range(int(rng.integers(2, 5))):
        th = _u(rng, 0.04, 0.1) * s
        x, y = _u(rng, 0.04, 0.45) * s, _u(rng, 0.04, 0.9) * s
        col = fg if rng.random() < 0.5 else bg
        box = img.getpixel((min(s - 1, int(x + 1)), min(s - 1, int(y + th / 2))))
        if box == col:  # keep the type visible on whatever it lands on
            col = WHITE if col != WHITE else BLACK
        _type_bar(d, rng, x, y, _u(rng, 0.25, 0.5) * s, th, col)
    return img


def pop(rng: np.random.Generator, s: int) -> Image.Image:
    """Saturated gradients and round face-like shapes."""
    h = _u(rng, 0, 1)
    c1 = _hsv(h, _u(rng, 0.7, 1.0), _u(rng, 0.85, 1.0))
    c2 = _hsv(h + _u(rng, 0.15, 0.45), _u(rng, 0.7, 1.0), _u(rng, 0.8, 1.0))
    if rng.random() < 0.5:
        arr = _linear(s, c1, c2, _u(rng, 0, 2 * math.pi))
    else:
        arr = _radial(s, c1, c2, _u(rng, 0.3, 0.7), _u(rng, 0.3, 0.7), _u(rng, 0.5, 0.9))
    img = _to_image(arr)
    d = ImageDraw.Draw(img)
    n_faces = 1 if rng.random() < 0.75 else 2
    for i in range(n_faces):
        rx = _u(rng, 0.17, 0.26) * s / (1.0 + 0.35 * (n_faces - 1))
        ry = rx * _u(rng, 1.1, 1.3)
        cx = (0.5 + _u(rng, -0.08, 0.08) + (0.0 if n_faces == 1 else (i - 0.5) * 0.42)) * s
        cy = (0.52 + _u(rng, -0.06, 0.08)) * s
        hair = _hsv(_u(rng, 0, 1), _u(rng, 0.3, 1.0), _u(rng, 0.15, 1.0))
        d.ellipse([cx - rx * 1.25, cy - ry * 1.3, cx + rx * 1.25, cy + ry * 0.75], fill=hair)
        skin = _hsv(_u(rng, 0.04, 0.1), _u(rng, 0.2, 0.55), _u(rng, 0.75, 1.0))
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)
        er = max(1.0, rx * 0.12)
        for ex in (-0.38, 0.38):
            d.ellipse([cx + ex * rx - er, cy - 0.2 * ry - er, cx + ex * rx + er, cy - 0.2 * ry + er],
                      fill=BLACK)
        d.chord([cx - 0.45 * rx, cy + 0.15 * ry, cx + 0.45 * rx, cy + 0.6 * ry], 0, 180,
                fill=_hsv(0.98, _u(rng, 0.6, 1.0), _u(rng, 0.6, 0.95)))
    col = WHITE if rng.random() < 0.7 else BLACK
    y = (0.05 if rng.random() < 0.6 else 0.86) * s
    _type_bar(d, rng, _u(rng, 0.06, 0.3) * s, y, _u(rng, 0.4, 0.6) * s, _u(rng, 0.06, 0.1) * s, col)
    return img


def classical(rng: np.random.Generator, s: int) -> Image.Image:
    """Light field with a centred portrait ellipse, frame and composer type."""
    paper = _hsv(_u(rng, 0.08, 0.15), _u(rng, 0.02, 0.2), _u(rng, 0.86, 0.98))
    img = Image.new("RGB", (s, s), paper)
    d = ImageDraw.Draw(img)
    ink = _hsv(_u(rng, 0.0, 0.12), _u(rng, 0.2, 0.7), _u(rng, 0.1, 0.4))
    if rng.random() < 0.6:
        m = _u(rng, 0.03, 0.07) * s
        d.rectangle([m, m, s - m, s - m], outline=ink, width=max(1, s // 64))
    cx, cy = (0.5 + _u(rng, -0.03, 0.03)) * s, _u(rng, 0.46, 0.54) * s
    rx = _u(rng, 0.19, 0.27) * s
    ry = rx * _u(rng, 1.2, 1.4)
    dark = _hsv(_u(rng, 0.02, 0.35), _u(rng, 0.3, 0.7), _u(rng, 0.15, 0.42))
    portrait = Image.new("RGB", (s, s), dark)
    pd = ImageDraw.Draw(portrait)
    fr = rx * _u(rng, 0.38, 0.5)
    fy = cy - ry * _u(rng, 0.15, 0.35)
    face = _hsv(_u(rng, 0.05, 0.1), _u(rng, 0.2, 0.45), _u(rng, 0.6, 0.9))
    pd.ellipse([cx - rx * 0.8, fy + fr * 1.1, cx + rx * 0.8, cy + ry * 1.6], fill=ink)  # shoulders
    pd.ellipse([cx - fr, fy - fr * 1.3, cx + fr, fy + fr * 1.3], fill=face)
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    img.paste(portrait, (0, 0), mask)
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], outline=ink, width=max(1, s // 64))
    img = img.filter(ImageFilter.GaussianBlur(0.006 * s))
    d = ImageDraw.Draw(img)
    w = _u(rng, 0.35, 0.6) * s
    _type_bar(d, rng, (s - w) / 2, _u(rng, 0.07, 0.11) * s, w, _u(rng, 0.045, 0.07) * s, ink)
    w = _u(rng, 0.25, 0.45) * s
    _type_bar(d, rng, (s - w) / 2, _u(rng, 0.85, 0.89) * s, w, 0.035 * s + 1, ink)
    return img


def hip_hop(rng: np.random.Generator, s: int) -> Image.Image:
    """Photo-like noisy blurred blobs under bold blocks and heavy type."""
    h = _u(rng, 0, 1)
    arr = _linear(s, _hsv(h, _u(rng, 0.0, 0.4), _u(rng, 0.15, 0.6)),
                  _hsv(h + 0.1, _u(rng, 0.0, 0.4), _u(rng, 0.2, 0.7)), _u(rng, 0, 2 * math.pi))
    img = _to_image(arr)
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 7))):  # "people" / "cars" / "buildings"
        cx, cy = _u(rng, 0, 1) * s, _u(rng, 0.3, 1.0) * s
        rx, ry = _u(rng, 0.08, 0.25) * s, _u(rng, 0.1, 0.35) * s
        col = _hsv(_u(rng, 0, 1), _u(rng, 0.0, 0.5), _u(rng, 0.1, 0.8))
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=col)
    noisy = np.asarray(img, np.float32) + rng.normal(0.0, _u(rng, 10, 28), (s, s, 1)).astype(np.float32)
    img = _to_image(noisy).filter(ImageFilter.GaussianBlur(_u(rng, 0.008, 0.02) * s))
    d = ImageDraw.Draw(img)
    block = rng.choice(4)
    bc = [BLACK, WHITE, _hsv(0.0, 0.9, 0.85), _hsv(0.14, 0.9, 0.95)][int(rng.integers(0, 4))]
    bh = _u(rng, 0.14, 0.28) * s
    if block == 0:
        box = [0, s - bh, s, s]
    elif block == 1:
        box = [0, 0, s, bh]
    elif block == 2:
        box = [0, 0, bh, s]
    else:
        box = [_u(rng, 0.05, 0.3) * s, _u(rng, 0.05, 0.6) * s, 0, 0]
        box[2], box[3] = box[0] + _u(rng, 0.4, 0.6) * s, box[1] + bh
    d.rectangle(box, fill=bc)
    tc = BLACK if bc in (WHITE, _hsv(0.14, 0.9, 0.95)) else WHITE
    if block == 2:
        lines = int(rng.integers(3, 7))
        _type_bar(d, rng, 0.12 * bh, 0.06 * s, 0.76 * bh, lines * 0.1 * s, tc, lines=lines)
    else:
        _type_bar(d, rng, box[0] + 0.04 * s, box[1] + 0.15 * bh, 0.85 * (box[2] - box[0]), 0.7 * bh, tc)
    if rng.random() < 0.5:  # advisory sticker
        w, hh = 0.2 * s, 0.11 * s
        x, y = s - w - 0.04 * s, s - hh - 0.04 * s if block != 0 else 0.04 * s
        d.rectangle([x, y, x + w, y + hh], fill=BLACK, outline=WHITE)
        d.rectangle([x + 1, y + hh * 0.35, x + w - 1, y + hh * 0.7], fill=WHITE)
    return img


def punk(rng: np.random.Generator, s: int) -> Image.Image:
    """High-contrast diagonal collage of black, white and red."""
    red = _hsv(_u(rng, -0.02, 0.02), _u(rng, 0.85, 1.0), _u(rng, 0.75, 0.95))
    pal = [BLACK, WHITE, red]
    bg = pal[int(rng.integers(0, 3))]
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    tilt = _u(rng, 0.25, 0.8) * (1 if rng.random() < 0.5 else -1)
    for _ in range(int(rng.integers(4, 9))):
        col = pal[int(rng.integers(0, 3))]
        if col == bg:
            col = pal[(pal.index(bg) + 1 + int(rng.integers(0, 2))) % 3]
        ang = tilt + _u(rng, -0.25, 0.25)
        poly = _rot_rect(_u(rng, 0, 1) * s, _u(rng, 0, 1) * s, _u(rng, 0.2, 0.9) * s,
                         _u(rng, 0.06, 0.3) * s, ang)
        d.polygon(poly, fill=col)
    for _ in range(int(rng.integers(2, 5))):  # ransom-note type on torn labels
        lw, lh = _u(rng, 0.25, 0.5) * s, _u(rng, 0.07, 0.12) * s
        x, y = _u(rng, 0.0, 0.6) * s, _u(rng, 0.0, 0.88) * s
        lab = pal[int(rng.integers(0, 3))]
        d.rectangle([x, y, x + lw, y + lh], fill=lab)
        ink = BLACK if lab != BLACK else WHITE
        _type_bar(d, rng, x + 0.1 * lh, y + 0.12 * lh, lw - 0.2 * lh, 0.8 * lh, ink)
    return img


_DRAW: dict[str, Callable[[np.random.Generator, int], Image.Image]] = {
    "minimal-techno": minimal_techno,
    "metal": metal,
    "ambient": ambient,
    "jazz": jazz,
    "pop": pop,
    "classical": classical,
    "hip-hop": hip_hop,
    "punk": punk,
}

#: genre names in their canonical order (``n_genres=k`` uses the first k)
STYLES: tuple[str, ...] = tuple(_DRAW)

MIN_SIZE = 16


def render(style: str, rng: np.random.Generator, size: int = 128) -> Image.Image:
    """Draw one cover of ``style`` (a name in :data:`STYLES`)."""
    if style not in _DRAW:
        raise ValueError(f"unknown cover style {style!r}; known styles: {', '.join(STYLES)}")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < MIN_SIZE:
        raise ValueError(f"cover size must be an int >= {MIN_SIZE}, got {size!r}")
    img = _DRAW[style](rng, int(size))
    if img.mode != "RGB" or img.size != (size, size):  # pragma: no cover - style bug guard
        raise AssertionError(f"style {style} produced {img.mode} {img.size}")
    return img
