"""Frames as a strip of colored square cells, and finding them again in a screenshot.

Layout (docs/protocol.md): 8 sync cells white, black, white ... black, then (from
version 2) calibration cells that show every intermediate channel level, then the
frame's bits as symbols of `bits` bits, high bits first, three symbols per cell in
R, G, B, a symbol s drawn as channel level round(255 * s / (2^bits - 1)).

The decoder measures every level it will meet from the strip itself (the sync gives
black and white, the calibration cells the levels between), so any monotone change
of each channel (gamma, brightness, contrast, colour filters) keeps the levels apart;
smooth scaling, blur and compression mix neighbouring cells, and what decides how
much of that is survived is the distance between levels: see STRIP_V2.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from portunus.protocol.frame import HEADER, VERSION, DecodeError, decode_frame, encode_frame, frame_length
from portunus.protocol.snapshot import GameSnapshot

SYNC = (1, 0, 1, 0, 1, 0, 1, 0)   # 1 = white, 0 = black
SYMBOLS_PER_CELL = 3              # symbols per cell (R, G, B)
MAX_RESIDUAL = 0.4                # a channel further than this from its level, in parts of the way to the
#                                   next level, is damage
WHITE_MIN, BLACK_MAX = 140, 100   # sync classification before calibration (white dimmed by a filter and
#                                   -10 % contrast and brightness still reads >= 150)
MIN_CONTRAST = 64                 # per channel, white minus black
EDGE_STRENGTH = 24                # summed channel change between neighbour pixels that makes a cell edge
_WHITE, _BLACK = 1, 2


@dataclasses.dataclass(frozen=True)
class StripFormat:
    """How a frame version is drawn: bits per channel, and whether calibration cells follow the sync."""

    version: int
    bits: int               # per channel; 3 per cell
    calibration: bool       # cells with every level between black and white, right after the sync
    header_parity: int = 0  # Reed-Solomon parity bytes after the 7 header bytes (0: no code)
    parity: int = 0         # Reed-Solomon parity bytes per block of the rest of the frame

    @property
    def levels(self) -> int:
        return 1 << self.bits

    def level_values(self) -> np.ndarray:
        return np.rint(np.arange(self.levels) * (255.0 / (self.levels - 1)))

    def calibration_symbols(self) -> np.ndarray:
        """int [cells, 3]: every level strictly between black and white, once per channel,
        shifted between channels so no calibration cell is grey."""
        inner = self.levels - 2
        if not self.calibration or inner <= 0:
            return np.zeros((0, 3), np.int64)
        j = np.arange(inner)[:, None]
        return 1 + (j + np.arange(3)[None, :] * max(1, inner // 3 + (inner == 2))) % inner


STRIP_V1 = StripFormat(version=1, bits=4, calibration=False)
# Version 2, chosen by measurement (`scripts/barcode_captures.py`, docs/protocol.md "Robustness"):
# at 3 px cells, 4 levels with calibration cells and Reed-Solomon decode every capture transform
# (gamma, brightness/contrast, colour filters, smooth scaling 0.8-2.0, sub-pixel offsets, blur,
# JPEG q >= 90) exactly in 500 of 500 frames; without the code JPEG reads 98 % and the combined
# transform 91 %; 16 levels fail brightness/contrast and colour filters at any cell size (levels
# that clip at 255 merge); 8 levels fail JPEG at 3 px. The price: 2.8 times the strip's length.
STRIP_V2 = StripFormat(version=2, bits=2, calibration=True, header_parity=8, parity=16)
STRIPS = {1: STRIP_V1, 2: STRIP_V2}
RS_BLOCK = 255                    # most bytes in one Reed-Solomon codeword (GF(2^8))


@functools.lru_cache(maxsize=None)
def _codec(parity: int):
    import reedsolo

    # GF(2^8) with the polynomial 0x11d, generator 2, first root 2^0: reedsolo's defaults, and
    # what addon/Portunus/Frame.lua encodes with.
    return reedsolo.RSCodec(parity, nsize=RS_BLOCK, fcr=0, prim=0x11D, generator=2)


def _body_blocks(length: int, parity: int) -> list[int]:
    """Data bytes per Reed-Solomon block for `length` bytes after the header: as few blocks as
    fit, their sizes differing by at most one, the longer first."""
    if length <= 0:
        return []
    count = math.ceil(length / (RS_BLOCK - parity))
    base, extra = divmod(length, count)
    return [base + (i < extra) for i in range(count)]


def coded(frame: bytes, strip: StripFormat) -> bytes:
    """The bytes a strip carries: the frame, with Reed-Solomon parity after the header and after
    every block of the rest when the format has them."""
    if not strip.parity:
        return frame
    out = bytearray(_codec(strip.header_parity).encode(frame[:HEADER.size]))
    at = HEADER.size
    for size in _body_blocks(len(frame) - HEADER.size, strip.parity):
        out += _codec(strip.parity).encode(frame[at:at + size])
        at += size
    return bytes(out)


def coded_length(frame_length: int, strip: StripFormat) -> int:
    if not strip.parity:
        return frame_length
    blocks = _body_blocks(frame_length - HEADER.size, strip.parity)
    return HEADER.size + strip.header_parity + frame_length - HEADER.size + strip.parity * len(blocks)


def _symbols(frame: bytes, bits: int) -> np.ndarray:
    """The frame's bits as `bits`-bit symbols, high bits first, padded with zeros to whole cells."""
    stream = np.unpackbits(np.frombuffer(frame, np.uint8))
    per_cell = bits * SYMBOLS_PER_CELL
    padded = np.zeros(math.ceil(len(stream) / per_cell) * per_cell, np.uint8)
    padded[:len(stream)] = stream
    weights = 1 << np.arange(bits - 1, -1, -1)
    return padded.reshape(-1, bits) @ weights


def _bytes(symbols: np.ndarray, bits: int, count: int) -> bytes:
    weights = 1 << np.arange(bits - 1, -1, -1)
    stream = ((symbols.reshape(-1)[:, None] & weights) > 0).astype(np.uint8).reshape(-1)
    return np.packbits(stream[:8 * count]).tobytes()


def _cells_for(byte_count: int, strip: StripFormat) -> int:
    return math.ceil(8 * byte_count / (strip.bits * SYMBOLS_PER_CELL))


def cell_levels(frame: bytes, strip: StripFormat | None = None) -> np.ndarray:
    """u8 [cells, 3]: the color of every cell of the strip, sync and calibration included.
    The strip format follows the frame's version byte unless `strip` is given."""
    strip = strip or STRIPS[frame[2] if len(frame) > 2 and frame[2] in STRIPS else VERSION]
    values = strip.level_values()
    sync = np.repeat(np.array(SYNC, np.float64)[:, None] * 255, 3, axis=1)
    calibration = values[strip.calibration_symbols()]
    data = values[_symbols(coded(frame, strip), strip.bits).reshape(-1, SYMBOLS_PER_CELL)]
    return np.concatenate([sync, calibration.reshape(-1, 3), data]).astype(np.uint8)


def draw(frame: bytes, cell_size: int = 3, strip: StripFormat | None = None) -> np.ndarray:
    """u8 [cell_size, cells * cell_size, 3]: the strip as the addon draws it."""
    colors = cell_levels(frame, strip)
    row = np.repeat(colors, cell_size, axis=0)
    return np.repeat(row[None], cell_size, axis=0)


def encode(snapshot: GameSnapshot, cell_size: int = 3, version: int = VERSION,
           strip: StripFormat | None = None) -> np.ndarray:
    """The strip image of one snapshot (the demo and the tests draw with it)."""
    return draw(encode_frame(snapshot, version), cell_size, strip or STRIPS[version])


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
    top to bottom. One vectorized pass over all rows: a -1 column ends every row's last run.

    A smooth edge leaves a pixel or two that is neither white nor black between two sync cells;
    such a short gap between a white and a black run is given to the runs beside it."""
    height, width = classes.shape
    flat = np.concatenate([classes, -np.ones((height, 1), classes.dtype)], axis=1).reshape(-1)
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    if len(starts) < len(SYNC):
        return
    values = flat[starts]
    lengths = np.diff(np.concatenate([starts, [len(flat)]]))
    before = np.concatenate([[-1], values[:-1]])
    after = np.concatenate([values[1:], [-1]])
    gap = ((values == 0) & (lengths <= 2) & (before > 0) & (after > 0) & (before != after))
    # Half of a gap's pixels go to the run before it, half to the run after it.
    half = np.where(gap, lengths / 2.0, 0.0)
    keep = ~gap
    lengths = (lengths + np.concatenate([[0.0], half[:-1]]) + np.concatenate([half[1:], [0.0]]))[keep]
    starts = (starts - np.concatenate([[0.0], half[:-1]]))[keep]
    values = values[keep]
    pattern = np.array([_WHITE if s else _BLACK for s in SYNC], classes.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(values, len(SYNC))
    for i in np.flatnonzero((windows == pattern).all(1)):
        # The outer two runs may merge with a background or a data cell of the same class,
        # so the cell width comes from the six inner runs.
        inner = lengths[i + 1:i + len(SYNC) - 1]
        size = inner.mean()
        tolerance = max(1.0, 0.25 * size)
        if (np.all(np.abs(inner - size) <= tolerance) and lengths[i] >= size - tolerance
                and lengths[i + len(SYNC) - 1] >= size - tolerance):
            row, x = divmod(float(starts[i + 1]), width + 1)
            yield int(row), float(x - size), float(size)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept (x must not be constant)."""
    n, sx, sy = len(x), float(x.sum()), float(y.sum())
    slope = (n * float(x @ y) - sx * sy) / (n * float(x @ x) - sx * sx)
    return slope, (sy - slope * sx) / n


def _edges(profile: np.ndarray, size: float) -> np.ndarray:
    """Sub-pixel positions of the color edges along one row (float [width, 3]): where the summed
    channel change between neighbour pixels peaks, refined by a parabola through the peak.
    Position x is the boundary between pixel x - 1 and pixel x. A peak must be the largest within
    0.4 cells: the ringing beside a sharp edge (JPEG, bicubic scaling) is not another edge."""
    strength = np.abs(np.diff(profile, axis=0)).sum(1)              # [width - 1], boundary i + 1
    if size < 2.0:                      # every pixel boundary may be a cell edge: no room to refine
        return np.flatnonzero(strength >= EDGE_STRENGTH) + 1.0
    reach = max(1, int(0.4 * size))
    padded = np.concatenate([np.zeros(reach), strength, np.zeros(reach)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1)
    before, after = windows[:, :reach].max(1), windows[:, reach + 1:].max(1)
    index = np.flatnonzero((strength >= EDGE_STRENGTH) & (strength > before) & (strength >= after))
    left = strength[np.maximum(index - 1, 0)]
    right = strength[np.minimum(index + 1, len(strength) - 1)]
    middle = strength[index]
    curvature = left - 2 * middle + right
    offset = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    return index + 1.0 + np.clip(offset, -0.5, 0.5)


def _fit_grid(edges: np.ndarray, x0: float, size: float, cells: int) -> tuple[float, float]:
    """Refine the strip's start and cell width from the color edges along it.

    Eight sync cells give the width to a small fraction of a pixel, too coarse for a long strip
    at a non-integer scale; each round fits x0 + j * size to the edges of twice as many cells.
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


def _windows(centers: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel index of the inside of cells of `size` around `centers`: pixels whose
    centres lie at least a pixel inside the cell (a smooth scale or a blur mixes the outer pixel
    with the neighbour), or else the one nearest the centre."""
    reach = max(size / 2 - 1.0, 0.0)
    first = np.ceil(centers - reach - 0.5).astype(np.int64)
    last = np.floor(centers + reach - 0.5).astype(np.int64)
    nearest = np.floor(centers).astype(np.int64)
    empty = last < first
    return np.where(empty, nearest, first), np.where(empty, nearest, last)


def _classify(samples: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest level per channel, and how far each sample lies towards the level beside it
    (in parts of the distance between the two; beyond black or white, of the step inwards).
    samples [n, 3], levels [L, 3] increasing per channel."""
    by_channel = levels.T                                                   # [3, L]
    channel = np.arange(3)[None, :]
    nearest = np.abs(samples[:, :, None] - by_channel[None]).argmin(-1)    # [n, 3]
    value = by_channel[channel, nearest]
    toward = np.where(samples >= value, nearest + 1, nearest - 1)
    toward = np.where((toward < 0) | (toward >= len(levels)), 2 * nearest - toward, toward)
    step = np.abs(by_channel[channel, toward] - value)
    return nearest, np.abs(samples - value) / np.maximum(step, 1.0)


class _Strip:
    """One candidate strip: its rows, grid and samples, read lazily as far as needed."""

    def __init__(self, rgb: np.ndarray, classes: np.ndarray, y: int, x0: float, size: float):
        height, width, _ = rgb.shape
        self.rgb, self.width = rgb, width
        sync_x = x0 + (np.arange(len(SYNC)) + 0.5) * size
        sync_cols = np.clip(np.floor(sync_x).astype(np.int64), 0, width - 1)
        pattern = np.array([_WHITE if s else _BLACK for s in SYNC])
        bottom = y
        while bottom + 1 < height and np.all(classes[bottom + 1, sync_cols] == pattern):
            bottom += 1
        self.top, self.bottom = y, bottom
        first, last = _windows(np.array([(y + bottom + 1) / 2]), bottom - y + 1)
        self.rows = np.clip(np.arange(first[0], last[0] + 1), 0, height - 1)
        middle = rgb[int(round((y + bottom) / 2))].astype(np.float64)
        self.edges = _edges(middle, size)
        self.x0, self.size, self.fitted = x0, size, 0
        self.sync_x0, self.sync_size = x0, size
        self.sums = None

    def sample(self, count: int) -> np.ndarray:
        """float [count, 3]: the mean color of the inside of cells 0 .. count - 1."""
        if count > self.fitted:
            self.x0, self.size = _fit_grid(self.edges, self.sync_x0, self.sync_size, count)
            self.fitted = count
        if self.sums is None:
            row = self.rgb[self.rows].astype(np.float64).mean(0)            # [width, 3]
            self.sums = np.concatenate([np.zeros((1, 3)), np.cumsum(row, axis=0)])
        first, last = _windows(self.x0 + (np.arange(count) + 0.5) * self.size, self.size)
        if first.min() < 0 or last.max() >= self.width:
            raise DecodeError("strip runs off the captured region (truncated)")
        return (self.sums[last + 1] - self.sums[first]) / (last - first + 1)[:, None]

    def box(self, cells: int) -> tuple[int, int, int, int]:
        right = self.x0 + cells * self.size
        return (self.top, int(round(self.x0)), self.bottom + 1, int(round(right)))


def _rs_decode(data: bytes, erased: np.ndarray, parity: int) -> bytes:
    """The data bytes of one Reed-Solomon codeword, with errors and the `erased` bytes corrected."""
    import reedsolo

    positions = np.flatnonzero(erased).tolist()
    if len(positions) > parity:
        raise DecodeError(f"{len(positions)} unreadable bytes in a block with {parity} parity bytes")
    try:
        return bytes(_codec(parity).decode(bytearray(data), erase_pos=positions or None)[0])
    except reedsolo.ReedSolomonError as error:
        raise DecodeError(f"too damaged to correct ({error})") from None


def _read(strip_data: _Strip, strip: StripFormat):
    """Decode the candidate as `strip`'s format: (snapshot, cells), or DecodeError."""
    calibration = strip.calibration_symbols()
    first_data = len(SYNC) + len(calibration)
    head_bytes = HEADER.size + strip.header_parity
    head = strip_data.sample(first_data + _cells_for(head_bytes, strip))
    sync = head[:len(SYNC)]
    white = sync[np.array(SYNC) == 1].mean(0)
    black = sync[np.array(SYNC) == 0].mean(0)
    if np.any(white - black < MIN_CONTRAST):
        raise DecodeError("sync cells without enough contrast")
    # Every channel's levels: black and white from the sync, the rest from the calibration cells
    # (or, without them, evenly between black and white).
    fractions = np.arange(strip.levels)[:, None] / (strip.levels - 1)
    levels = black + fractions * (white - black)                            # [L, 3]
    if len(calibration):
        measured = head[len(SYNC):first_data]
        for channel in range(3):
            levels[calibration[:, channel], channel] = measured[:, channel]
    if np.any(np.diff(levels, axis=0) < 0.25 * MIN_CONTRAST / (strip.levels - 1)):
        raise DecodeError("calibration levels out of order (not a strip, or damaged)")

    def read_bytes(samples: np.ndarray, count: int) -> tuple[bytes, np.ndarray]:
        """`count` bytes, and which of them hold a symbol that lies between levels."""
        nearest, residual = _classify(samples, levels)
        doubtful = residual.reshape(-1) > MAX_RESIDUAL
        per_byte = np.zeros(math.ceil(len(doubtful) * strip.bits / 8) + 1, bool)
        np.logical_or.at(per_byte, np.arange(len(doubtful)) * strip.bits // 8, doubtful)
        return _bytes(nearest, strip.bits, count), per_byte[:count]

    header, doubtful = read_bytes(head[first_data:], head_bytes)
    if strip.parity:
        header = _rs_decode(header, doubtful, strip.header_parity)
    elif doubtful.any():
        raise DecodeError("a cell's color is between levels (noise or damage)")
    total = frame_length(header[:HEADER.size], strip.version)
    cells = first_data + _cells_for(coded_length(total, strip), strip)
    samples = strip_data.sample(cells)
    # Re-measure every level from all cells that read as it (a few noisy calibration pixels
    # then do not decide), then read again.
    data = samples[first_data:]
    nearest, _ = _classify(data, levels)
    for channel in range(3):
        for level in range(strip.levels):
            chosen = data[nearest[:, channel] == level, channel]
            if len(chosen) >= 2:
                levels[level, channel] = 0.5 * levels[level, channel] + 0.5 * chosen.mean()
    stream, doubtful = read_bytes(data, coded_length(total, strip))
    if not strip.parity:
        if doubtful.any():
            raise DecodeError("a cell's color is between levels (noise or damage)")
        return decode_frame(stream), cells
    blocks, at = [], head_bytes
    for size in _body_blocks(total - HEADER.size, strip.parity):
        blocks.append((at, size))
        at += size + strip.parity
    # The frame's bytes without the parity first: when they pass the CRC, nothing needs correcting.
    try:
        return decode_frame(header[:HEADER.size] + b"".join(stream[a:a + n] for a, n in blocks)), cells
    except DecodeError:
        pass
    body = b"".join(_rs_decode(stream[a:a + n + strip.parity], doubtful[a:a + n + strip.parity], strip.parity)
                    for a, n in blocks)
    return decode_frame(header[:HEADER.size] + body), cells


def locate(image, order: str = "RGB", strips: tuple[StripFormat, ...] = (STRIP_V2, STRIP_V1)
           ) -> tuple[GameSnapshot, tuple[int, int, int, int]]:
    """Like `decode`, and where the strip is: (top, left, bottom, right) pixel box, exclusive
    at bottom and right (the overlay scans the whole screen once, then grabs just that box)."""
    rgb = _as_rgb(image, order)
    low, high = rgb.min(-1), rgb.max(-1)
    classes = np.where(low >= WHITE_MIN, _WHITE, np.where(high <= BLACK_MAX, _BLACK, 0)).astype(np.int8)
    reasons, covered = [], []
    for y, x0, size in _sync_candidates(classes):
        if any(top <= y <= bottom and abs(x - x0) <= 1 for top, bottom, x in covered):
            continue
        candidate = _Strip(rgb, classes, y, x0, size)
        errors = []
        for strip in strips:
            try:
                snapshot, cells = _read(candidate, strip)
                return snapshot, candidate.box(cells)
            except DecodeError as error:
                errors.append(str(error))
        reasons.append(errors[0] if len(set(errors)) == 1 else "; ".join(errors))
        covered.append((candidate.top, candidate.bottom, x0))
    if not reasons:
        raise DecodeError("no Portunus strip found (no sync pattern)")
    raise DecodeError(f"no valid frame: {reasons[0]}" + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""))


def decode(image, order: str = "RGB") -> GameSnapshot:
    """The snapshot of the first valid strip in `image` (u8 [H, W, 3|4]), scanning top to bottom.

    Raises DecodeError when no strip is there or every strip found is damaged:
    a damaged frame is rejected, never read into wrong values.
    """
    return locate(image, order)[0]
