"""The report's static figures, drawn with numpy and Pillow (raster) or as inline SVG.

matplotlib drew them before; importing pyplot and rendering six figures cost ~2 s of a
~2.5 s ``write`` stage on a 15 x 512 x 512 study, for images that are pixels with an
overlay, an outline, a few labels and one scatter plot. Here each is composed directly:
the slice is the image's own pixels (cropped to the lumbar region, not resampled), the
Modic map and the bodies' outlines are blended in, names and titles are drawn with
Pillow's built-in font, and the scatter plot is SVG text (sharp when printed).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from modicmap.labels import vertebra_name

#: Modic type colours used in every figure and table (type 1 red, 2 yellow, 3 blue)
TYPE_COLOURS = {1: (0.90, 0.16, 0.16), 2: (0.98, 0.80, 0.10), 3: (0.20, 0.45, 0.95)}
TYPE_NAMES = {0: "none", 1: "type 1 (oedema)", 2: "type 2 (fatty)", 3: "type 3 (sclerosis)"}
OUTLINE_RGB = (95, 211, 95)
NAME_RGB = (159, 232, 159)
MAP_ALPHA = 0.85


def rgb255(colour: tuple[float, float, float]) -> tuple[int, int, int]:
    return (round(255 * colour[0]), round(255 * colour[1]), round(255 * colour[2]))


def css_colour(colour: tuple[float, float, float]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb255(colour))


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def window(image: np.ndarray) -> np.ndarray:
    """0..1 between the 1st and 99.5th percentiles (as the figures always were)."""
    low, high = np.percentile(image, (1, 99.5))
    return np.clip((image - low) / max(float(high - low), 1e-6), 0, 1)


def png_data_uri(image: Image.Image) -> str:
    """PNG at zlib level 1: a fifth of level 6's time, ~10 % larger on these figures."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _grey_rgb(unit: np.ndarray) -> np.ndarray:
    grey = np.rint(unit * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _to_aspect(rgb: np.ndarray, aspect: float) -> Image.Image:
    """``aspect`` = row spacing / column spacing: stretch rows so pixels are square in mm."""
    image = Image.fromarray(rgb)
    if abs(aspect - 1.0) > 0.01:
        height = max(1, round(rgb.shape[0] * aspect))
        image = image.resize((rgb.shape[1], height), Image.Resampling.BILINEAR)
    return image


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill, size: int) -> None:
    """Text with a dark halo, readable on any grey."""
    draw.text(xy, text, fill=fill, font=font(size), stroke_width=2, stroke_fill=(0, 0, 0))


def map_panel(
    image: np.ndarray, modic: np.ndarray, vertebrae: np.ndarray, aspect: float, title: str
) -> Image.Image:
    """One slice: the windowed image, the Modic map (alpha 0.85), the bodies' outlines
    (green) and their names, a title in the corner."""
    rgb = _grey_rgb(window(image)).astype(np.float32)
    for kind, colour in TYPE_COLOURS.items():
        on = modic == kind
        rgb[on] = (1 - MAP_ALPHA) * rgb[on] + MAP_ALPHA * np.asarray(rgb255(colour), np.float32)
    bodies = vertebrae > 0
    edge = bodies & ~ndimage.binary_erosion(bodies)
    rgb[edge] = OUTLINE_RGB
    panel = _to_aspect(np.rint(rgb).astype(np.uint8), aspect)
    draw = ImageDraw.Draw(panel)
    size = max(11, panel.width // 28)
    for code in (int(c) for c in np.unique(vertebrae) if c):
        cy, cx = ndimage.center_of_mass(vertebrae == code)
        x = cx + 0.06 * vertebrae.shape[1]
        _label(draw, (x, cy * aspect - size / 2), vertebra_name(code), NAME_RGB, size)
    _label(draw, (4, 3), title, (240, 240, 240), size)
    return panel


def side_by_side(panels: Sequence[Image.Image], gap: int = 6) -> Image.Image:
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    out = Image.new("RGB", (width, max(p.height for p in panels)), "white")
    x = 0
    for panel in panels:
        out.paste(panel, (x, 0))
        x += panel.width + gap
    return out


def legend_html() -> str:
    """The map's colour key, as HTML under the figures (prints with them)."""
    items = "".join(
        f'<span><i style="background:{css_colour(c)}"></i>{html.escape(TYPE_NAMES[t])}</span>'
        for t, c in TYPE_COLOURS.items()
    )
    outline = f'<span><i style="background:{css_colour(tuple(v / 255 for v in OUTLINE_RGB))}"></i>'
    return f'<p class="legend">{items}{outline}vertebral body outline</span></p>'


def level_patches_image(
    patches: Mapping[str, np.ndarray], probabilities: Mapping[str, float | None], scale: int = 2
) -> Image.Image:
    """One column per level: T1 patch above T2 (signal relative to marrow, 0-2.5 shown as
    black-white), the level's name and the network's probability above."""
    names = list(patches)
    size = max(p.shape[-1] for p in patches.values()) * scale
    gap, head, left = 6, 34, 26
    out = Image.new("RGB", (left + len(names) * (size + gap), head + 2 * size + gap), "white")
    draw = ImageDraw.Draw(out)
    for i, sequence in enumerate(("T1", "T2")):
        y = head + i * (size + gap) + size // 2 - 6
        draw.text((2, y), sequence, fill="black", font=font(12))
    for j, name in enumerate(names):
        x = left + j * (size + gap)
        probability = probabilities.get(name)
        draw.text((x, 2), name, fill="black", font=font(12))
        if probability is not None:
            draw.text((x, 17), f"{probability:.2f}", fill="black", font=font(12))
        for i in range(2):
            unit = np.clip(patches[name][i] / 2.5, 0, 1)
            tile = Image.fromarray(np.rint(unit * 255).astype(np.uint8), "L")
            tile = tile.resize((size, size), Image.Resampling.NEAREST)
            out.paste(tile.convert("RGB"), (x, head + i * (size + gap)))
    return out


def registration_image(t1: np.ndarray, t2: np.ndarray, aspect: float) -> Image.Image:
    """The middle slice of T1 with the registered T2's edges (Canny) in red."""
    from skimage.feature import canny

    k = t1.shape[0] // 2
    a, b = window(t1[k]), window(t2[k])
    edges = canny(b, sigma=2.0, low_threshold=0.05, high_threshold=0.15)
    rgb = _grey_rgb(a).astype(np.float32)
    rgb[edges] = 0.1 * rgb[edges] + 0.9 * np.asarray((255, 51, 26), np.float32)
    return _to_aspect(np.rint(rgb).astype(np.uint8), aspect)


def scatter_svg(
    points: Mapping[int, tuple[np.ndarray, np.ndarray, int]],
    centroids: Sequence[tuple[tuple[float, float], tuple[float, float]]],
    *,
    width: int = 480,
    height: int = 440,
) -> str:
    """Lesion voxels in (T1 z, T2 z) as an inline SVG: per type, the plotted voxels (x, y)
    and the type's voxel count; per type, its centroid (X) and a 1-sd ellipse."""
    margin = (52, 16, 30, 44)  # left, right, top, bottom
    data_x = [np.asarray(x, float) for x, _, _ in points.values()] + [np.zeros(1)]
    data_y = [np.asarray(y, float) for _, y, _ in points.values()] + [np.zeros(1)]
    for (mx, my), (sx, sy) in centroids:
        data_x.append(np.array([mx - sx, mx + sx]))
        data_y.append(np.array([my - sy, my + sy]))
    x0, x1 = _padded(np.concatenate(data_x))
    y0, y1 = _padded(np.concatenate(data_y))
    pw, ph = width - margin[0] - margin[1], height - margin[2] - margin[3]

    def px(v: float) -> float:
        return margin[0] + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return margin[2] + (y1 - v) / (y1 - y0) * ph

    bottom, right = margin[2] + ph, margin[0] + pw
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">',
        _svg("rect", x=margin[0], y=margin[2], width=pw, height=ph, fill="none", stroke="#444"),
    ]
    axis = {"stroke": "#999", "stroke-width": 0.5}
    if x0 < 0 < x1:
        parts.append(_svg("line", x1=px(0), x2=px(0), y1=margin[2], y2=bottom, **axis))
    if y0 < 0 < y1:
        parts.append(_svg("line", y1=py(0), y2=py(0), x1=margin[0], x2=right, **axis))
    for tick in _ticks(x0, x1):
        parts.append(_svg("text", f"{tick:g}", x=px(tick), y=bottom + 14, text_anchor="middle"))
    for tick in _ticks(y0, y1):
        parts.append(_svg("text", f"{tick:g}", x=margin[0] - 5, y=py(tick) + 4, text_anchor="end"))
    parts += [
        _svg(
            "text",
            "T1 z-score (within vertebral bodies)",
            x=margin[0] + pw / 2,
            y=height - 6,
            text_anchor="middle",
        ),
        _svg(
            "text",
            "T2 z-score",
            transform=f"translate(13 {margin[2] + ph / 2:.1f}) rotate(-90)",
            text_anchor="middle",
        ),
        _svg(
            "text",
            "Lesion voxels and type centroids (ellipses: 1 sd)",
            x=width / 2,
            y=16,
            text_anchor="middle",
            font_size=12,
        ),
    ]
    for kind, (x, y, _) in points.items():
        path = "".join(f"M{px(a):.1f} {py(b):.1f}h0" for a, b in zip(x, y, strict=True))
        parts.append(
            f'<path d="{path}" stroke="{css_colour(TYPE_COLOURS[kind])}" stroke-opacity="0.45" '
            'stroke-width="3" stroke-linecap="round" fill="none"/>'
        )
    cross = "l10 10m0 -10l-10 10"
    for kind, ((mx, my), (sx, sy)) in enumerate(centroids, start=1):
        rx, ry = sx / (x1 - x0) * pw, sy / (y1 - y0) * ph
        cx, cy = px(mx), py(my)
        parts.append(
            f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{rx:.1f}" ry="{ry:.1f}" fill="none" '
            f'stroke="{css_colour(TYPE_COLOURS[kind])}" stroke-width="1.5"/>'
            + _svg("path", d=f"M{cx - 5:.1f} {cy - 5:.1f}" + cross, stroke="#000", stroke_width=2.5)
            + _svg("text", f"centroid {kind}", x=cx + 7, y=cy - 7)
        )
    for row, (kind, (_, _, count)) in enumerate(points.items()):
        y = margin[2] + ph - 10 - 15 * (len(points) - 1 - row)
        x = margin[0] + pw - 175
        parts.append(
            f'<circle cx="{x}" cy="{y - 4}" r="4" fill="{css_colour(TYPE_COLOURS[kind])}"/>'
            f'<text x="{x + 8}" y="{y}">{html.escape(TYPE_NAMES[kind])} ({count} voxels)</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg(tag: str, text: str | None = None, **attributes: object) -> str:
    """One SVG element; ``text_anchor`` -> ``text-anchor``, floats to 0.1 px."""
    pairs = " ".join(
        f'{k.replace("_", "-")}="{f"{v:.1f}" if isinstance(v, float) else html.escape(str(v))}"'
        for k, v in attributes.items()
    )
    return f"<{tag} {pairs}/>" if text is None else f"<{tag} {pairs}>{html.escape(text)}</{tag}>"


def _padded(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    pad = max(0.05 * (high - low), 0.5)
    return low - pad, high + pad


def _ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50, 100, 1e9) if span / s <= 8)
    first = np.ceil(low / step) * step
    return [round(float(v), 6) for v in np.arange(first, high + 1e-9, step)]
