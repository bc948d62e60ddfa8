"""GameSnapshots as JSON, for the planning service: strict, with errors that name the field.

The JSON mirrors the dataclasses field by field (null = unknown); unknown fields,
wrong types and out-of-range values are refused with a path such as
`snapshots[0].enemies[2].health_pct`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from portunus.protocol.frame import MAX_ENEMIES, MAX_TABLE
from portunus.protocol.snapshot import (AuraState, CooldownState, EnemyState, GameSnapshot, KeystoneState,
                                        ResourceState)


class SnapshotJSONError(ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


# Per field: "time" (seconds >= 0), "int" (>= 0), "pct" (0..100), "bool", or a nested type / list of it.
_FIELDS: dict[type, dict[str, Any]] = {
    ResourceState: {"current": "int", "maximum": "int"},
    CooldownState: {"remaining": "time", "charges": "int", "max_charges": "int", "ready": "bool", "usable": "bool",
                    "overlayed": "bool", "estimated": "bool", "assisted": "bool", "since_cast": "time",
                    "duration": "time"},
    AuraState: {"remaining": "time", "stacks": "int"},
    EnemyState: {"health": "int", "max_health": "int", "health_pct": "pct", "in_range": "bool",
                 "debuffs": [AuraState]},
    KeystoneState: {"map_id": "int", "level": "int", "enemy_forces_pct": "pct", "elapsed": "time",
                    "time_limit": "time"},
    GameSnapshot: {"spec_id": "int", "frame": "int", "game_time": "time", "combat_time": "time",
                   "in_combat": "bool", "gcd_remaining": "time", "cast_spell_id": "int", "cast_remaining": "time",
                   "assisted_spell_id": "int", "resources": [ResourceState], "cooldowns": [CooldownState],
                   "buffs": [AuraState], "enemies": [EnemyState], "keystone": KeystoneState},
}
_LIMITS = {"enemies": MAX_ENEMIES}
_NOT_NULL = {"spec_id", "frame"}


def _value(kind, value, path: str):
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise SnapshotJSONError(path, f"must be a list, got {type(value).__name__}")
        limit = _LIMITS.get(path.rsplit(".", 1)[-1], MAX_TABLE)
        if len(value) > limit:
            raise SnapshotJSONError(path, f"at most {limit} entries, got {len(value)}")
        return tuple(_object(kind[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if isinstance(kind, type):
        return _object(kind, value, path)
    if value is None:
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise SnapshotJSONError(path, f"must be true, false or null, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise SnapshotJSONError(path, f"must be a number or null, got {value!r}")
    if value < 0:
        raise SnapshotJSONError(path, f"must be >= 0, got {value}")
    if kind == "pct" and value > 100:
        raise SnapshotJSONError(path, f"must be a percentage 0..100, got {value}")
    if kind == "int":
        if value != int(value) or value > 2**32 - 2:
            raise SnapshotJSONError(path, f"must be a whole number below 2^32, got {value}")
        return int(value)
    if value > 1e7:
        raise SnapshotJSONError(path, f"must be at most 1e7 seconds, got {value}")
    return float(value)


def _object(cls, data, path: str):
    if not isinstance(data, dict):
        raise SnapshotJSONError(path, f"must be an object, got {type(data).__name__}")
    fields = _FIELDS[cls]
    for key in data:
        if key not in fields:
            raise SnapshotJSONError(f"{path}.{key}", f"unknown field; {cls.__name__} has {', '.join(fields)}")
    values = {}
    for key, kind in fields.items():
        if key in data:
            if data[key] is None and key in _NOT_NULL:
                raise SnapshotJSONError(f"{path}.{key}", "must not be null")
            values[key] = _value(kind, data[key], f"{path}.{key}")
    return cls(**values)


def snapshot_from_json(data: Any, path: str = "snapshot") -> GameSnapshot:
    """A GameSnapshot from parsed JSON; missing fields take the dataclass defaults (unknown)."""
    return _object(GameSnapshot, data, path)


def snapshot_to_json(snapshot: GameSnapshot) -> dict:
    return dataclasses.asdict(snapshot)
