"""The service's one validation layer: raw bytes -> checked JSON, before any handler reads a field.

In order, each step refusing with a 4xx that names the field:
1. size: bodies over MAX_BODY bytes are refused by aiohttp before they are read (413);
2. nesting: the raw bytes are scanned for the deepest array/object (outside strings)
   before parsing, so 100,000 nested brackets cost one vectorized pass, not a
   RecursionError inside `json.loads`;
3. numbers: `json.loads` hands every number literal to hooks that keep it exact but
   mark what no field accepts (NaN, Infinity, 1e400, integer literals too long to
   convert); a walk over the parsed body then refuses any such number, and any
   number beyond +-2^53, with its path (`snapshots[0].enemies[1].health`);
4. wire ranges: integer fields of a snapshot must fit the field they have in the
   barcode frame (portunus/protocol/frame.py: stacks and charges are 8-bit, spec and
   map ids 16-bit, health and resources 32-bit), so a State is never built from a
   value its int32/float32 arrays cannot hold;
5. the snapshot codec (`portunus.protocol.snapshot_from_json`) then checks types,
   signs, percentages and table lengths.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

MAX_BODY = 256 * 1024          # bytes
MAX_DEPTH = 16                 # nesting of arrays/objects; a request with snapshots is 7 deep
MAX_INTEGER_DIGITS = 30        # longer integer literals are refused without converting them
MAX_MAGNITUDE = 2.0 ** 53      # beyond it JSON numbers stop being exact in most clients
# Largest value of each integer snapshot field on the wire (all ones means "unknown").
WIRE_MAXIMUM = {"stacks": 0xFF - 1, "charges": 0xFF - 1, "level": 0xFF - 1, "spec_id": 0xFFFF - 1,
                "map_id": 0xFFFF - 1, "health": 0xFFFFFFFF - 1, "max_health": 0xFFFFFFFF - 1,
                "current": 0xFFFFFFFF - 1, "maximum": 0xFFFFFFFF - 1, "cast_spell_id": 0xFFFFFFFF - 1,
                "frame": 0xFFFFFFFF - 1}
WIRE_BITS = {0xFF - 1: 8, 0xFFFF - 1: 16, 0xFFFFFFFF - 1: 32}
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


class ClientError(Exception):
    """A request the client must fix: `str()` is '<field>: <what is wrong>'."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Unusable(float):
    """A number literal no field accepts (NaN, Infinity, out of float range, too many digits),
    kept as what the client wrote so the error can show it."""

    def __new__(cls, text: str):
        value = super().__new__(cls, math.nan)
        value.text = text if len(text) <= 40 else f"a number of {len(text)} characters"
        return value


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _Unusable(text)


def _int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS else _Unusable(text)


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, brackets inside strings ignored.

    Vectorized and linear in the length (a regular expression over strings backtracked
    quadratically on 256 KiB of `"\\` pairs: minutes): a quote opens or closes a string unless an
    odd run of backslashes precedes it, and a bracket counts when an even number of such quotes
    precede it."""
    if not raw:
        return 0
    text = np.frombuffer(raw, np.uint8)
    index = np.arange(text.size)
    backslash = text == ord("\\")
    last_other = np.maximum.accumulate(np.where(backslash, -1, index))      # last non-backslash at or before i
    run_before = np.zeros(text.size, np.int64)                               # backslashes right before i
    run_before[1:] = index[:-1] - last_other[:-1]
    quote = (text == ord('"')) & (run_before % 2 == 0)
    inside = (np.cumsum(quote) - quote) % 2 == 1                             # after an odd number of quotes
    steps = np.where(inside, 0, _OPEN[text])
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object with every number usable (steps 2 and 3 above)."""
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise ClientError(400, f"body: nested {depth} levels deep; at most {MAX_DEPTH}")
    try:
        data = json.loads(raw, parse_float=_float, parse_int=_int, parse_constant=_Unusable)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ClientError(400, f"body: not valid JSON ({error})") from None
    except RecursionError:   # cannot happen below MAX_DEPTH; kept so it can never be a 500
        raise ClientError(400, "body: nested too deep") from None
    if not isinstance(data, dict):
        raise ClientError(400, "body: must be a JSON object")
    check_numbers(data, "")
    return data


def check_numbers(value: Any, path: str) -> None:
    """Every number in `value` is finite, exactly representable and within +-2^53 (names the path)."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_numbers(item, f"{path}[{index}]")
    elif isinstance(value, _Unusable):
        raise ClientError(400, f"{path}: must be a finite number, got {value.text}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
        raise ClientError(400, f"{path}: must be at most 2^53 in size, got {value:.6g}")


def check_snapshot_ranges(snapshot: Any, path: str) -> None:
    """Integer fields of a snapshot's JSON fit their wire field (step 4); other checks are the codec's."""
    if isinstance(snapshot, dict):
        for key, item in snapshot.items():
            where = f"{path}.{key}"
            high = WIRE_MAXIMUM.get(key)
            if high is not None and isinstance(item, (int, float)) and not isinstance(item, bool) and item > high:
                raise ClientError(400, f"{where}: must be at most {high:,} (a {WIRE_BITS[high]}-bit field of the "
                                       f"frame), got {item:,}")
            check_snapshot_ranges(item, where)
    elif isinstance(snapshot, list):
        for index, item in enumerate(snapshot):
            check_snapshot_ranges(item, f"{path}[{index}]")


def whole_number(data: dict, key: str, low: int, high: int, default: int | None = None) -> int:
    """`data[key]` as a whole number in [low, high] (or `default` when absent)."""
    value = data.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ClientError(400, f"{key}: must be a whole number {low}..{high}, got {value!r}")
    return value
