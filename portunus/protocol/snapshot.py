"""What the planner knows about the live game: the GameSnapshot.

Plain Python values, `None` wherever the game did not give the field (secret
values in combat on retail 12.x, APIs a client lacks, nothing targeted...).
Times are seconds, percentages 0..100. List orders follow the spec's tables
(abilities, buffs, debuffs, resources), so both sides must use the same spec.
Protocol version 1 frames carry no readiness flags, cast history or assisted-combat
fields: those decode as None.
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
    """One ability of the spec's table. In retail combat the game hides remaining times and the
    charge count's arithmetic, but not whether the spell is cooling down: `ready`, `charges` and
    `max_charges` then still come from readable flags, and `remaining` may be the addon's
    estimate from the player's own last cast (`estimated` True)."""

    remaining: Optional[float] = None   # seconds until the next charge; 0 = ready
    charges: Optional[int] = None       # charges ready now
    max_charges: Optional[int] = None   # as the game reports it (1 for a spell without charges)
    ready: Optional[bool] = None        # castable as far as its cooldown goes (a charge is there, or only
    #                                     the global cooldown runs on it)
    usable: Optional[bool] = None       # C_Spell.IsSpellUsable: resources, execute window, free-cast procs
    overlayed: Optional[bool] = None    # the game's proc highlight is on its button
    estimated: Optional[bool] = None    # `remaining` is an estimate (own last cast + cached cooldown)
    assisted: Optional[bool] = None     # one of Blizzard's assisted-combat rotation spells
    since_cast: Optional[float] = None  # seconds since the player's own last successful cast of it
    duration: Optional[float] = None    # its cooldown (or recharge) in seconds, as last read readable


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
    assisted_spell_id: Optional[int] = None  # Blizzard's next-spell pick (C_AssistedCombat); 0 = none
    resources: tuple[ResourceState, ...] = ()
    cooldowns: tuple[CooldownState, ...] = ()
    buffs: tuple[AuraState, ...] = ()
    enemies: tuple[EnemyState, ...] = ()  # nearest first as the addon orders them; at most MAX_ENEMIES
    keystone: KeystoneState = KeystoneState()
