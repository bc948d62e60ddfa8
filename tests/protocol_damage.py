"""Ways a captured strip gets damaged, for the decoder's fuzz test: damage (noise, flips,
overwrites, valid-looking cell changes, decoys...) and what real captures do
(portunus.protocol.captures: gamma, brightness/contrast, colour filters, smooth scaling,
sub-pixel offsets, blur, JPEG)."""

from __future__ import annotations

import numpy as np

from portunus.protocol import captures, cell_levels


def nearest_resize(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    rows = np.minimum((np.arange(max(1, round(height * factor))) / factor).astype(int), height - 1)
    cols = np.minimum((np.arange(max(1, round(width * factor))) / factor).astype(int), width - 1)
    return image[rows][:, cols]


def noise(rng, image, box):
    amplitude = int(rng.integers(1, 48))
    return np.clip(image.astype(np.int16) + rng.integers(-amplitude, amplitude + 1, image.shape), 0, 255)


def bit_flips(rng, image, box):
    image = image.copy()
    y0, x0, y1, x1 = box
    for _ in range(int(rng.integers(1, 24))):
        y, x, c = rng.integers(y0, y1), rng.integers(x0, x1), rng.integers(0, 3)
        image[y, x, c] ^= np.uint8(1 << int(rng.integers(0, 8)))
    return image


def truncate(rng, image, box):
    y0, x0, y1, x1 = box
    if rng.random() < 0.7:
        return image[:, :int(rng.integers(x0 + 1, x1))]
    return image[:int(rng.integers(y0, y1)) if y1 - y0 > 1 else y0]


def overwrite(rng, image, box):
    image = image.copy()
    y0, x0, y1, x1 = box
    xa = int(rng.integers(x0, x1))
    xb = min(x1, xa + int(rng.integers(1, 12)))
    image[y0:y1, xa:xb] = rng.integers(0, 256, 3)
    return image


def _data_cells(box):
    """(count, slice of data cell i) for the strip in `box`: the 8 sync cells are left alone."""
    y0, x0, y1, x1 = box
    cell = y1 - y0
    return (x1 - x0) // cell, lambda i: (slice(y0, y1), slice(x0 + i * cell, x0 + (i + 1) * cell))


def _palette(image, box) -> np.ndarray:
    """The channel levels the strip in `box` is drawn with (4 for version 2, 16 for version 1)."""
    y0, x0, y1, x1 = box
    return np.unique(image[y0, x0:x1])


def on_grid_cell_change(rng, image, box):
    """Change one to four data cells to other valid colors: Reed-Solomon corrects a few such
    changes; beyond that only the CRC can catch them."""
    image = image.copy()
    cells, at = _data_cells(box)
    palette = _palette(image, box)
    for _ in range(int(rng.integers(1, 5))):
        image[at(int(rng.integers(8, cells)))] = rng.choice(palette, 3)
    return image


def swap_cells(rng, image, box):
    image = image.copy()
    cells, at = _data_cells(box)
    i, j = rng.integers(8, cells, 2)
    image[at(i)], image[at(j)] = image[at(j)].copy(), image[at(i)].copy()
    return image


def color_shift(rng, image, box):
    gain, offset = rng.uniform(0.5, 1.1), rng.uniform(-30, 40)
    return np.clip(image * gain + offset, 0, 255)


def scale(rng, image, box):
    return nearest_resize(image, float(rng.uniform(0.6, 2.6)))


def decoy(rng, image, box):
    """Another strip-like thing above or below the real one: a sync pattern and random cells,
    or a copy of the real strip with one cell changed."""
    y0, x0, y1, x1 = box
    cell = y1 - y0
    height, width = image.shape[:2]
    if rng.random() < 0.5:
        colors = np.concatenate([cell_levels(b"")[:8], rng.choice(_palette(image, box), (40, 3))])
    else:
        colors = image[y0, x0:x1:cell].astype(np.int64)
        colors[int(rng.integers(8, len(colors)))] = rng.choice(_palette(image, box), 3)
    strip = np.repeat(np.repeat(colors[None].astype(np.uint8), cell, axis=1), cell, axis=0)
    grown = np.zeros((height + cell + 1, max(width, strip.shape[1] + 1), 3), np.uint8)
    image_top, decoy_top = (0, height + 1) if rng.random() < 0.5 else (cell + 1, 0)
    grown[image_top:image_top + height, :width] = image
    grown[decoy_top:decoy_top + cell - 1 + 1, 1:1 + strip.shape[1]] = strip
    return grown


def _capture(transform):
    def apply(rng, image, box):
        return transform(rng, np.asarray(image, np.uint8))

    apply.__name__ = transform.__name__
    return apply


CAPTURES = tuple(_capture(t) for t in (captures.gamma, captures.brightness_contrast, captures.colour_filter,
                                        captures.subpixel_offset, captures.blur, captures.jpeg))
CONTENT_DAMAGES = (noise, bit_flips, overwrite, on_grid_cell_change, swap_cells, color_shift) + CAPTURES
GEOMETRY_DAMAGES = (truncate, scale, decoy, _capture(captures.smooth_scale))   # applied last: they move the strip


def damage(rng, canvas: np.ndarray, box) -> tuple[np.ndarray, list[str]]:
    """One to three content damages, then maybe one geometry damage."""
    names = []
    for index in rng.choice(len(CONTENT_DAMAGES), int(rng.integers(0, 3)), replace=False):
        canvas = np.asarray(CONTENT_DAMAGES[index](rng, canvas, box), np.uint8)
        names.append(CONTENT_DAMAGES[index].__name__)
    if not names or rng.random() < 0.6:
        geometry = GEOMETRY_DAMAGES[int(rng.integers(0, len(GEOMETRY_DAMAGES)))]
        canvas = geometry(rng, np.asarray(canvas, np.uint8), box)
        names.append(geometry.__name__)
    return np.asarray(canvas, np.uint8), names


def place(rng, strip: np.ndarray):
    """The strip on a random background at a random offset; returns (canvas, box of the strip)."""
    height, width = strip.shape[:2]
    pad_y, pad_x = int(rng.integers(0, 5)), int(rng.integers(0, 24))
    canvas_shape = (height + pad_y + int(rng.integers(0, 5)), width + pad_x + int(rng.integers(0, 24)), 3)
    if rng.random() < 0.5:
        canvas = np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), canvas_shape).copy()
    else:
        canvas = rng.integers(0, 256, canvas_shape).astype(np.uint8)
    canvas[pad_y:pad_y + height, pad_x:pad_x + width] = strip
    return canvas, (pad_y, pad_x, pad_y + height, pad_x + width)
