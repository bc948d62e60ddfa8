"""Frames as a strip of colored square cells, and finding them again in a screenshot.

Layout (docs/protocol.md): 8 sync cells white, black, white ... black, then the
frame's bytes as 4-bit nibbles, high nibble first, three per cell in R, G, B,
each nibble n drawn as the channel level 17 * n. Four bits per channel leave
a margin of 8 levels either side, so gamma shifts, dithering and color filters
decode exactly; the black and white sync cells calibrate the levels.
"""

from __future__ import annotations

import math

import numpy as np

from portunus.protocol.frame import HEADER, DecodeError, decode_frame, encode_frame, frame_length
from portunus.protocol.snapshot import GameSnapshot

SYNC = (1, 0, 1, 0, 1, 0, 1, 0)   # 1 = white, 0 = black
LEVEL_STEP = 17                   # nibble n is drawn as level 17 * n (0, 17, ..., 255)
NIBBLES_PER_CELL = 3
MAX_RESIDUAL = 0.4                # a channel further than this from a level (in steps) is damage
WHITE_MIN, BLACK_MAX = 170, 85    # sync classification before calibration
EDGE_STEP = 12                    # a channel step this large between neighbor pixels is a cell edge
_WHITE, _BLACK = 1, 2


def cell_levels(frame: bytes) -> np.ndarray:
    """u8 [cells, 3]: the color of every cell of the strip, sync included."""
    nibbles = np.empty(2 * len(frame), np.uint8)
    raw = np.frombuffer(frame, np.uint8)
    nibbles[0::2], nibbles[1::2] = raw >> 4, raw & 15
    padded = np.zeros(math.ceil(len(nibbles) / NIBBLES_PER_CELL) * NIBBLES_PER_CELL, np.uint8)
    padded[:len(nibbles)] = nibbles
    data = padded.reshape(-1, NIBBLES_PER_CELL) * LEVEL_STEP
    sync = np.repeat(np.array(SYNC, np.uint8)[:, None] * 255, 3, axis=1)
    return np.concatenate([sync, data]).astype(np.uint8)


def draw(frame: bytes, cell_size: int = 3) -> np.ndarray:
    """u8 [cell_size, cells * cell_size, 3]: the strip as the addon draws it."""
    colors = cell_levels(frame)
    row = np.repeat(colors, cell_size, axis=0)
    return np.repeat(row[None], cell_size, axis=0)


def encode(snapshot: GameSnapshot, cell_size: int = 3) -> np.ndarray:
    """The strip image of one snapshot (the demo and the tests draw with it)."""
    return draw(encode_frame(snapshot), cell_size)


def _as_rgb(image, order: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise DecodeError(f"expected an image of shape [height, width, 3 or 4], got {array.shape}")
    if len(order) != array.shape[2] or sorted(order.upper()) != sorted("RGB" + "A" * (len(order) == 4)):
        raise ValueError(f"order '{order}' does not describe {array.shape[2]} channels")
    index = [order.upper().index(c) for c in "RGB"]
    return array[:, :, index].astype(np.int16)


def _sync_candidates(classes: np.ndarray):
    """(row, x0, cell width) for every run of 8 alternating white/black runs of about equal length,
    top to bottom. One vectorized pass over all rows: a -1 column ends every row's last run."""
    height, width = classes.shape
    flat = np.concatenate([classes, -np.ones((height, 1), classes.dtype)], axis=1).reshape(-1)
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    if len(starts) < len(SYNC):
        return
    lengths = np.diff(np.concatenate([starts, [len(flat)]]))
    pattern = np.array([_WHITE if s else _BLACK for s in SYNC], classes.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(flat[starts], len(SYNC))
    for i in np.flatnonzero((windows == pattern).all(1)):
        # The outer two runs may merge with a background or a data cell of the same class,
        # so the cell width comes from the six inner runs.
        inner = lengths[i + 1:i + len(SYNC) - 1]
        size = inner.mean()
        tolerance = max(1.0, 0.25 * size)
        if (np.all(np.abs(inner - size) <= tolerance) and lengths[i] >= size - tolerance
                and lengths[i + len(SYNC) - 1] >= size - tolerance):
            row, x = divmod(int(starts[i + 1]), width + 1)
            yield row, float(x - size), float(size)


def _window(center: np.ndarray, size: float) -> np.ndarray:
    """Pixel indices [n, k] of the middle half of each cell around `center` (float pixel positions)."""
    k = max(1, int(size * 0.5))
    first = np.floor(center - k / 2 + 0.5).astype(np.int64)
    return first[:, None] + np.arange(k)[None, :]


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept (x must not be constant)."""
    n, sx, sy = len(x), float(x.sum()), float(y.sum())
    slope = (n * float(x @ y) - sx * sy) / (n * float(x @ x) - sx * sx)
    return slope, (sy - slope * sx) / n


def _fit_grid(edges: np.ndarray, x0: float, size: float, cells: int) -> tuple[float, float]:
    """Refine the strip's start and cell width from the color edges along it.

    Eight sync cells give the width to about 1/16 pixel, too coarse for a long strip at a
    non-integer scale; each round fits x0 + j * size to the edges of twice as many cells.
    """
    near = edges[(edges >= x0 - size / 2) & (edges <= x0 + (cells + 0.5) * size)]
    if len(near) and np.all(np.abs(near - x0 - np.rint((near - x0) / size) * size) < 0.01):
        return x0, size                        # an unscaled strip: the sync's grid is exact
    span = len(SYNC)
    while True:
        near = edges[(edges >= x0 - size / 2) & (edges <= x0 + (span + 0.5) * size)]
        index = np.rint((near - x0) / size)
        good = np.abs(near - x0 - index * size) < 0.3 * size
        if good.sum() >= 3 and np.ptp(index[good]) >= len(SYNC) // 2:
            size, x0 = _line(index[good], near[good])
        if span >= cells:
            return float(x0), float(size)
        span = min(2 * span, cells)


def _read_strip(rgb: np.ndarray, classes: np.ndarray, y: int, x0: float, size: float):
    """Decode the strip whose sync starts at (x0, y). Returns (snapshot, rows covered)."""
    height, width, _ = rgb.shape
    sync_x = x0 + (np.arange(len(SYNC)) + 0.5) * size
    sync_cols = np.clip(np.floor(sync_x).astype(np.int64), 0, width - 1)
    pattern = np.array([_WHITE if s else _BLACK for s in SYNC])
    bottom = y
    while bottom + 1 < height and np.all(classes[bottom + 1, sync_cols] == pattern):
        bottom += 1
    rows = _window(np.array([(y + bottom + 1) / 2]), bottom - y + 1)[0]
    covered = (y, bottom)
    middle = rgb[min(max(int(rows.mean()), 0), height - 1)]
    edges = np.flatnonzero(np.abs(np.diff(middle, axis=0)).max(1) > EDGE_STEP) + 1.0
    grid = [x0, size, 0]    # start, cell width, cells the fit covers

    def sample(first_cell: int, count: int) -> np.ndarray:
        if first_cell + count > grid[2]:
            grid[:] = *_fit_grid(edges, x0, size, first_cell + count), first_cell + count
        centers = grid[0] + (np.arange(first_cell, first_cell + count) + 0.5) * grid[1]
        cols = _window(centers, grid[1])
        if cols.min() < 0 or cols.max() >= width or rows.min() < 0 or rows.max() >= height:
            raise DecodeError("strip runs off the captured region (truncated)")
        return rgb[rows][:, cols].mean(axis=(0, 2))            # [count, 3]

    head_cells = math.ceil(2 * HEADER.size / NIBBLES_PER_CELL)
    first = sample(0, len(SYNC) + head_cells)
    sync = first[:len(SYNC)]
    white = sync[np.array(SYNC) == 1].mean(0)
    black = sync[np.array(SYNC) == 0].mean(0)
    if np.any(white - black < 128):
        raise DecodeError("sync cells without enough contrast")

    def levels(samples: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        return (samples - low) * (15.0 / (high - low))

    def to_bytes(n: np.ndarray, count: int) -> bytes:
        n = n.reshape(-1)
        return bytes((n[0:2 * count:2] << 4) | n[1:2 * count:2])

    head = np.clip(np.rint(levels(first[len(SYNC):], black, white)), 0, 15).astype(np.uint8)
    total = frame_length(to_bytes(head, HEADER.size))
    samples = sample(0, len(SYNC) + math.ceil(2 * total / NIBBLES_PER_CELL))
    # First guess from the sync cells, then a least-squares fit of every channel's black and white
    # levels over all cells: the whole strip calibrates itself, so a few noisy sync pixels do not.
    guess = np.clip(np.rint(levels(samples, black, white)), 0, 15)
    low, high = np.empty(3), np.empty(3)
    for channel in range(3):
        slope, intercept = _line(guess[:, channel] / 15.0, samples[:, channel])
        low[channel], high[channel] = intercept, intercept + slope
    if np.any(high - low < 128):
        raise DecodeError("cells without enough contrast")
    value = levels(samples[len(SYNC):], low, high)
    nibbles = np.rint(value)
    if np.any(np.abs(value - nibbles) > MAX_RESIDUAL) or nibbles.min() < 0 or nibbles.max() > 15:
        raise DecodeError("a cell's color is between levels (noise or damage)")
    right = grid[0] + samples.shape[0] * grid[1]
    box = (covered[0], int(np.floor(grid[0])), covered[1] + 1, int(np.ceil(right)))
    return decode_frame(to_bytes(nibbles.astype(np.uint8), total)), box


def locate(image, order: str = "RGB") -> tuple[GameSnapshot, tuple[int, int, int, int]]:
    """Like `decode`, and where the strip is: (top, left, bottom, right) pixel box, exclusive
    at bottom and right (the overlay scans the whole screen once, then grabs just that box)."""
    rgb = _as_rgb(image, order)
    low, high = rgb.min(-1), rgb.max(-1)
    classes = np.where(low >= WHITE_MIN, _WHITE, np.where(high <= BLACK_MAX, _BLACK, 0)).astype(np.int8)
    reasons, covered = [], []
    for y, x0, size in _sync_candidates(classes):
        if any(top <= y <= bottom and abs(x - x0) <= 1 for top, bottom, x in covered):
            continue
        try:
            return _read_strip(rgb, classes, y, x0, size)
        except DecodeError as error:
            reasons.append(str(error))
            covered.append((y, y + max(int(size), 1) - 1, x0))
    if not reasons:
        raise DecodeError("no Portunus strip found (no sync pattern)")
    raise DecodeError(f"no valid frame: {reasons[0]}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""))


def decode(image, order: str = "RGB") -> GameSnapshot:
    """The snapshot of the first valid strip in `image` (u8 [H, W, 3|4]), scanning top to bottom.

    Raises DecodeError when no strip is there or every strip found is damaged:
    a damaged frame is rejected, never read into wrong values.
    """
    return locate(image, order)[0]
