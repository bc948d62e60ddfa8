"""The binary frame: header, GameSnapshot payload, CRC-32 (docs/protocol.md).

Every field is a fixed-size big-endian unsigned integer whose all-ones value
means "unknown". Decoding is strict: a wrong magic, version, length, CRC, an
out-of-range value or a trailing byte rejects the whole frame, so damage can
never turn into a believable snapshot.

Version 2 (the addon since issue 17) adds per-ability readiness flags, the
reported maximum charges, the time since the player's own last cast, the last
readable cooldown duration, and Blizzard's assisted-combat pick. Version 1 frames
(older addons) still decode; the fields they lack are None.
"""

from __future__ import annotations

import struct
import zlib
from typing import Callable, Optional

from portunus.protocol.snapshot import (AuraState, CooldownState, EnemyState, GameSnapshot, KeystoneState,
                                        ResourceState)

MAGIC = b"PN"
VERSION = 2                          # what encode_frame writes by default
VERSIONS = (1, 2)                    # what decode_frame reads
HEADER = struct.Struct(">2sBHH")     # magic, version, frame counter, payload length
CRC = struct.Struct(">I")
MAX_ENEMIES = 16
MAX_TABLE = 64                       # most abilities, buffs, debuffs or resources one spec may track
MAX_PAYLOAD = 4096


class DecodeError(ValueError):
    """A frame that is missing, damaged or not ours. The message says which."""


# Field kinds: (struct code, scale). A value is stored as round(value * scale).
U8, U16, U32 = ("B", 1), ("H", 1), ("I", 1)
CENTISECONDS = ("H", 100)            # short times, saturating at 655.34 s
MILLISECONDS = ("I", 1000)           # long times (GetTime, keystone timer)
PERCENT = ("H", 100)                 # hundredths of a percent, 0..10000
BOOL = ("B", 1)
_UNKNOWN = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFFFFFF}

# Version 2 packs an ability's tri-state flags into one U16, two bits each, the first flag in
# the top bits: 0 false, 1 true, 3 unknown (also every unused slot); 2 is invalid.
COOLDOWN_FLAGS = ("ready", "usable", "overlayed", "estimated", "assisted")
_FLAG_BITS = {False: 0, True: 1, None: 3}


class _Writer:
    def __init__(self):
        self.parts: list[bytes] = []

    def put(self, kind, value) -> None:
        code, scale = kind
        unknown = _UNKNOWN[code]
        if value is None:
            raw = unknown
        else:
            raw = min(max(int(round(float(value) * scale)), 0), unknown - 1)
        self.parts.append(struct.pack(">" + code, raw))

    def flags(self, values) -> None:
        raw = 0
        for slot in range(8):
            value = values[slot] if slot < len(values) else None
            raw |= _FLAG_BITS[None if value is None else bool(value)] << (14 - 2 * slot)
        self.parts.append(struct.pack(">H", raw))


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def raw(self, code: str) -> int:
        size = struct.calcsize(code)
        if self.at + size > len(self.data):
            raise DecodeError("payload shorter than its fields")
        (value,) = struct.unpack_from(">" + code, self.data, self.at)
        self.at += size
        return value

    def get(self, kind, check: Optional[Callable[[float], bool]] = None):
        code, scale = kind
        raw = self.raw(code)
        if raw == _UNKNOWN[code]:
            return None
        value = raw / scale if scale != 1 else raw
        if check is not None and not check(value):
            raise DecodeError(f"field value {value} out of range at payload byte {self.at}")
        return value

    def flag(self) -> Optional[bool]:
        value = self.get(BOOL, lambda v: v in (0, 1))
        return None if value is None else bool(value)

    def flags(self, count: int) -> list[Optional[bool]]:
        raw = self.raw("H")
        values = []
        for slot in range(8):
            bits = (raw >> (14 - 2 * slot)) & 3
            if bits == 2 or (slot >= count and bits != 3):
                raise DecodeError(f"invalid flag bits {bits} in slot {slot} at payload byte {self.at}")
            values.append(None if bits == 3 else bool(bits))
        return values[:count]

    def count(self, limit: int) -> int:
        value = self.raw("B")
        if value > limit:
            raise DecodeError(f"count {value} above the limit {limit} at payload byte {self.at}")
        return value


def _percent_ok(value: float) -> bool:
    return value <= 100.0


def _percent(value: Optional[float]) -> Optional[float]:
    """Percentages above 100 (a health read between two updates, a criterion past its total)
    are sent as 100; below 0 as 0 (every field clamps at 0)."""
    return None if value is None else min(value, 100.0)


def encode_payload(snapshot: GameSnapshot, version: int = VERSION) -> bytes:
    if version not in VERSIONS:
        raise ValueError(f"protocol version {version}; this encoder writes {VERSIONS}")
    w = _Writer()
    w.put(U16, snapshot.spec_id)
    w.put(MILLISECONDS, snapshot.game_time)
    w.put(MILLISECONDS, snapshot.combat_time)
    w.put(BOOL, snapshot.in_combat)
    w.put(CENTISECONDS, snapshot.gcd_remaining)
    w.put(U32, snapshot.cast_spell_id)
    w.put(CENTISECONDS, snapshot.cast_remaining)
    if version >= 2:
        w.put(U32, snapshot.assisted_spell_id)
    tables = (snapshot.resources, snapshot.cooldowns, snapshot.buffs)
    debuff_count = len(snapshot.enemies[0].debuffs) if snapshot.enemies else 0
    if any(len(table) > MAX_TABLE for table in tables) or debuff_count > MAX_TABLE:
        raise ValueError(f"a snapshot table is longer than {MAX_TABLE}")
    if len(snapshot.enemies) > MAX_ENEMIES:
        raise ValueError(f"at most {MAX_ENEMIES} enemies fit a frame, got {len(snapshot.enemies)}")
    if any(len(enemy.debuffs) != debuff_count for enemy in snapshot.enemies):
        raise ValueError("every enemy must carry the same number of tracked debuffs")
    w.put(U8, len(snapshot.resources))
    for resource in snapshot.resources:
        w.put(U32, resource.current)
        w.put(U32, resource.maximum)
    w.put(U8, len(snapshot.cooldowns))
    for cooldown in snapshot.cooldowns:
        w.put(CENTISECONDS, cooldown.remaining)
        w.put(U8, cooldown.charges)
        if version >= 2:
            w.put(U8, cooldown.max_charges)
            w.flags([getattr(cooldown, name) for name in COOLDOWN_FLAGS])
            w.put(CENTISECONDS, cooldown.since_cast)
            w.put(CENTISECONDS, cooldown.duration)
    w.put(U8, len(snapshot.buffs))
    for aura in snapshot.buffs:
        w.put(CENTISECONDS, aura.remaining)
        w.put(U8, aura.stacks)
    w.put(U8, debuff_count)
    w.put(U8, len(snapshot.enemies))
    for enemy in snapshot.enemies:
        w.put(U32, enemy.health)
        w.put(U32, enemy.max_health)
        w.put(PERCENT, _percent(enemy.health_pct))
        w.put(BOOL, enemy.in_range)
        for aura in enemy.debuffs:
            w.put(CENTISECONDS, aura.remaining)
            w.put(U8, aura.stacks)
    k = snapshot.keystone
    w.put(U16, k.map_id)
    w.put(U8, k.level)
    w.put(PERCENT, _percent(k.enemy_forces_pct))
    w.put(MILLISECONDS, k.elapsed)
    w.put(MILLISECONDS, k.time_limit)
    return b"".join(w.parts)


def _cooldown(r: _Reader, version: int) -> CooldownState:
    remaining, charges = r.get(CENTISECONDS), r.get(U8)
    if version < 2:
        return CooldownState(remaining, charges)
    max_charges = r.get(U8)
    flags = dict(zip(COOLDOWN_FLAGS, r.flags(len(COOLDOWN_FLAGS))))
    return CooldownState(remaining, charges, max_charges, since_cast=r.get(CENTISECONDS),
                         duration=r.get(CENTISECONDS), **flags)


def decode_payload(payload: bytes, frame: int = 0, version: int = VERSION) -> GameSnapshot:
    r = _Reader(payload)
    spec_id = r.get(U16)
    game_time, combat_time = r.get(MILLISECONDS), r.get(MILLISECONDS)
    in_combat = r.flag()
    gcd_remaining = r.get(CENTISECONDS)
    cast_spell_id, cast_remaining = r.get(U32), r.get(CENTISECONDS)
    assisted_spell_id = r.get(U32) if version >= 2 else None
    resources = tuple(ResourceState(r.get(U32), r.get(U32)) for _ in range(r.count(MAX_TABLE)))
    cooldowns = tuple(_cooldown(r, version) for _ in range(r.count(MAX_TABLE)))
    buffs = tuple(AuraState(r.get(CENTISECONDS), r.get(U8)) for _ in range(r.count(MAX_TABLE)))
    debuff_count = r.count(MAX_TABLE)
    enemies = []
    for _ in range(r.count(MAX_ENEMIES)):
        health, max_health = r.get(U32), r.get(U32)
        health_pct, in_range = r.get(PERCENT, _percent_ok), r.flag()
        debuffs = tuple(AuraState(r.get(CENTISECONDS), r.get(U8)) for _ in range(debuff_count))
        enemies.append(EnemyState(health, max_health, health_pct, in_range, debuffs))
    keystone = KeystoneState(r.get(U16), r.get(U8), r.get(PERCENT, _percent_ok), r.get(MILLISECONDS),
                             r.get(MILLISECONDS))
    if r.at != len(payload):
        raise DecodeError(f"{len(payload) - r.at} bytes left after the last field")
    return GameSnapshot(spec_id=spec_id or 0, frame=frame, game_time=game_time, combat_time=combat_time,
                        in_combat=in_combat, gcd_remaining=gcd_remaining, cast_spell_id=cast_spell_id,
                        cast_remaining=cast_remaining, assisted_spell_id=assisted_spell_id, resources=resources,
                        cooldowns=cooldowns, buffs=buffs,
                        enemies=tuple(enemies), keystone=keystone)


def encode_frame(snapshot: GameSnapshot, version: int = VERSION) -> bytes:
    """Header + payload + CRC-32 of both; the frame counter is `snapshot.frame` mod 65536.
    Version 1 drops the fields it has no place for."""
    payload = encode_payload(snapshot, version)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(MAGIC, version, snapshot.frame % 65536, len(payload)) + payload
    return body + CRC.pack(zlib.crc32(body))


def frame_length(header: bytes, expected_version: Optional[int] = None) -> int:
    """The whole frame's length in bytes from its first HEADER.size bytes (checks magic and
    version: one of VERSIONS, or `expected_version` when given)."""
    magic, version, _, length = HEADER.unpack(header[:HEADER.size])
    if magic != MAGIC:
        raise DecodeError("no Portunus magic")
    if expected_version is not None and version != expected_version:
        raise DecodeError(f"frame version {version} in a version {expected_version} strip")
    if version not in VERSIONS:
        raise DecodeError(f"frame version {version}, this decoder reads versions {', '.join(map(str, VERSIONS))}")
    if length > MAX_PAYLOAD:
        raise DecodeError(f"payload length {length} above the limit {MAX_PAYLOAD}")
    return HEADER.size + length + CRC.size


def decode_frame(data: bytes) -> GameSnapshot:
    """The snapshot in exactly one frame's bytes, or DecodeError."""
    if len(data) < HEADER.size + CRC.size:
        raise DecodeError("frame shorter than its header")
    total = frame_length(data)
    if len(data) != total:
        raise DecodeError(f"frame of {len(data)} bytes, its header says {total}")
    body, (crc,) = data[:-CRC.size], CRC.unpack(data[-CRC.size:])
    if zlib.crc32(body) != crc:
        raise DecodeError("CRC-32 mismatch: damaged frame")
    _, version, counter, _ = HEADER.unpack(body[:HEADER.size])
    return decode_payload(body[HEADER.size:], frame=counter, version=version)
