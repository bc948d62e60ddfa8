"""What the planner knows about the live game: the GameSnapshot.

Plain Python values, `None` wherever the game did not give the field (secret
values in combat on retail 12.x, APIs a client lacks, nothing targeted...).
Times are seconds, percentages 0..100. List orders follow the spec's tables
(abilities, buffs, debuffs, resources), so both sides must use the same spec.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class ResourceState:
    current: Optional[int] = None
    maximum: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class CooldownState:
    remaining: Optional[float] = None  # seconds until the next charge; 0 = ready
    charges: Optional[int] = None      # charges ready now


@dataclasses.dataclass(frozen=True)
class AuraState:
    remaining: Optional[float] = None  # seconds; 0 with 0 stacks = not present
    stacks: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class EnemyState:
    health: Optional[int] = None
    max_health: Optional[int] = None
    health_pct: Optional[float] = None
    in_range: Optional[bool] = None
    debuffs: tuple[AuraState, ...] = ()  # the spec's tracked debuffs, the player's own


@dataclasses.dataclass(frozen=True)
class KeystoneState:
    map_id: Optional[int] = None
    level: Optional[int] = None
    enemy_forces_pct: Optional[float] = None
    elapsed: Optional[float] = None      # seconds on the keystone timer
    time_limit: Optional[float] = None   # seconds


@dataclasses.dataclass(frozen=True)
class GameSnapshot:
    """One frame of game state as the addon saw it."""

    spec_id: int = 0                      # the game's specialization id; 0 = unknown
    frame: int = 0                        # the addon's frame counter (wraps at 65536)
    game_time: Optional[float] = None     # GetTime()
    combat_time: Optional[float] = None   # seconds since combat started
    in_combat: Optional[bool] = None
    gcd_remaining: Optional[float] = None
    cast_spell_id: Optional[int] = None   # 0 = not casting
    cast_remaining: Optional[float] = None
    resources: tuple[ResourceState, ...] = ()
    cooldowns: tuple[CooldownState, ...] = ()
    buffs: tuple[AuraState, ...] = ()
    enemies: tuple[EnemyState, ...] = ()  # nearest first as the addon orders them; at most MAX_ENEMIES
    keystone: KeystoneState = KeystoneState()
