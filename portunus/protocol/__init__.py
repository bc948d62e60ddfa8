"""The barcode protocol between the in-game addon and the planner (docs/protocol.md).

    image = encode(snapshot, cell_size=3)      # what the addon draws
    snapshot = decode(screenshot)              # GameSnapshot, or DecodeError
"""

from portunus.protocol.barcode import cell_levels, decode, draw, encode, locate
from portunus.protocol.frame import MAX_ENEMIES, MAX_TABLE, VERSION, VERSIONS, DecodeError, decode_frame, encode_frame
from portunus.protocol.json_codec import SnapshotJSONError, snapshot_from_json, snapshot_to_json
from portunus.protocol.snapshot import (AuraState, CooldownState, EnemyState, GameSnapshot, KeystoneState,
                                        ResourceState)

__all__ = [
    "encode", "decode", "locate", "draw", "cell_levels", "encode_frame", "decode_frame", "DecodeError",
    "MAX_ENEMIES", "MAX_TABLE", "VERSION", "VERSIONS", "GameSnapshot", "ResourceState", "CooldownState", "AuraState",
    "EnemyState", "KeystoneState", "SnapshotJSONError", "snapshot_from_json", "snapshot_to_json",
]
