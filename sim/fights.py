"""Fights: Patchwerk, AoE packs and keystone dungeon routes, as fixed-shape tables.

A route file is TOML (format in docs/route-format.md): a timer, a key level,
the rest of the group's damage, and an ordered list of pulls, each a set of
enemies with base health and the travel time before it.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Mapping

import jax.numpy as jnp
import numpy as np

from portunus.errors import InputError, closest, line_of
from portunus.inputs import number, read_text
from sim.types import OBJECTIVE_CLEAR_TIME, OBJECTIVE_DAMAGE, FightTables

ROUTE_DIR = Path(__file__).parent / "data" / "routes"
MAX_ENEMIES_PER_PULL = 20
# SimC's default raid debuffs on the enemy ("optimal_raid=1"): Mystic Touch 113746#1 +5 %
# physical damage taken, Chaos Brand 1490#1 +3 % magic damage taken.
MYSTIC_TOUCH, CHAOS_BRAND = 1.05, 1.03
# Hunter's Mark, also on in SimC's default raid (sim.cpp `overrides.hunters_mark = optimal_raid`):
# 259556#1 Modify Damage Taken% +3, every school; in Midnight no health condition
# (player.cpp composite_player_vulnerability; SpellDataDump/hunter.txt @5eacc562, 12.0.5).
HUNTERS_MARK = 1.03
# A retail max-level enemy and SimC's default raid debuffs; a spec file's `[enemy]` table
# replaces them for its game (Mists of Pandaria: a level 93 boss's armor, its raid debuffs).
RETAIL_ENEMY = {"armor_reduction": 0.30, "physical_taken": MYSTIC_TOUCH * HUNTERS_MARK,
                "magic_taken": CHAOS_BRAND * HUNTERS_MARK}
# Health of the target of a fixed-time fight: out of reach, and bookkeeping only, since
# its health percent follows time (float32 cannot resolve single hits against it).
FIXED_TIME_HEALTH = 1.0e12
# Upper bounds of what a fight may ask for: finite, below float32 trouble, and short enough that
# `sim.rollout.rollout` (20,000 decisions at most, >= 0.75 s each) always reaches the end.
MAX_FIGHT_SECONDS = 3600.0
MAX_ROUTE_SECONDS = 7200.0
MAX_HEALTH = 1.0e11


def key_level_health_multiplier(key_level: int) -> float:
    """Enemy health multiplier of a keystone level: 8 % per level up to +10,
    then 10 % per level, compounding (an estimate of recent seasons' scaling)."""
    if key_level <= 0:
        return 1.0
    return 1.08 ** min(key_level, 10) * 1.10 ** max(key_level - 10, 0)


@dataclasses.dataclass(frozen=True, eq=False)
class Fight:
    """A fight for `sim.make`: arrays for the engine, names for reports."""

    kind: str                       # "patchwerk" | "aoe" | "route"
    name: str
    pull_health: np.ndarray         # [NP, E]
    pull_travel: np.ndarray         # [NP]
    group_dps: np.ndarray           # [NP] per enemy
    time_limit: float
    fixed_time: bool = False
    armor_reduction: float | None = None   # physical damage reduction; None: the spec's game default
    objective: int = OBJECTIVE_DAMAGE
    pull_names: tuple[str, ...] = ()
    pull_is_boss: tuple[bool, ...] = ()
    key_level: int = 0
    enemy_forces_note: str = ""
    raid_debuffs: bool = True       # SimC's default raid: Mystic Touch, Chaos Brand, Hunter's Mark on every enemy
    bloodlust_at: float | None = None   # seconds into the fight (None: never, or by pull)
    pull_bloodlust: tuple[bool, ...] = ()   # Bloodlust when these pulls are engaged
    # Clear-time fights: what the player's own damage is worth beside the clear, in seconds of
    # clear time per second of damage at the nominal DPS (0: the clear alone). A route scored
    # by both, as a player reads the timer and the meter.
    own_damage_weight: float = 0.0

    @property
    def num_slots(self) -> int:
        return int(self.pull_health.shape[1])

    @property
    def num_pulls(self) -> int:
        return int(self.pull_health.shape[0])

    @property
    def total_health(self) -> float:
        return float(self.pull_health.sum())

    def with_slots(self, slots: int) -> "Fight":
        """The same fight with `slots` enemy slots (empty slots have no health), so fights
        of different sizes share one observation size (one network for all)."""
        if slots < self.num_slots:
            raise InputError(f"{self.name} needs {self.num_slots} enemy slots, more than {slots}")
        padding = np.zeros((self.num_pulls, slots - self.num_slots), np.float32)
        return dataclasses.replace(self, pull_health=np.concatenate([self.pull_health, padding], axis=1))

    def tables(self, nominal_dps: float, enemy: Mapping[str, float] | None = None) -> FightTables:
        """Arrays for the engine. Fixed-time fights reward damage, scaled by `nominal_dps` x
        duration so returns stay near 1; fights that end when enemies die reward speed
        (-elapsed / time limit), since their total damage is fixed, plus the player's share
        of it when `own_damage_weight` says so. `enemy` is the spec's game:
        its enemies' armor and its raid's damage-taken debuffs (a spec file's `[enemy]`)."""
        enemy = {**RETAIL_ENEMY, **(enemy or {})}
        armor = enemy["armor_reduction"] if self.armor_reduction is None else self.armor_reduction
        if self.objective == OBJECTIVE_CLEAR_TIME:
            scale = 1.0 / self.time_limit
            own_damage_scale = self.own_damage_weight / (nominal_dps * self.time_limit)
        else:
            scale, own_damage_scale = 1.0 / (nominal_dps * self.time_limit), 0.0
        return FightTables(
            pull_health=jnp.asarray(self.pull_health, jnp.float32),
            pull_travel=jnp.asarray(self.pull_travel, jnp.float32),
            pull_is_boss=jnp.asarray(np.array(self.pull_is_boss or (False,) * self.num_pulls, bool)),
            group_dps=jnp.asarray(self.group_dps, jnp.float32),
            time_limit=jnp.float32(self.time_limit),
            fixed_time=jnp.bool_(self.fixed_time),
            armor_reduction=jnp.float32(armor),
            physical_taken=jnp.float32(enemy["physical_taken"] if self.raid_debuffs else 1.0),
            magic_taken=jnp.float32(enemy["magic_taken"] if self.raid_debuffs else 1.0),
            bloodlust_time=jnp.float32(-1.0 if self.bloodlust_at is None else self.bloodlust_at),
            pull_bloodlust=jnp.asarray(np.array(self.pull_bloodlust or (False,) * self.num_pulls, bool)),
            objective=jnp.int32(self.objective),
            reward_scale=jnp.float32(scale),
            own_damage_scale=jnp.float32(own_damage_scale),
        )


def patchwerk(duration: float = 300.0, health: float | None = None, bloodlust_at: float | None = 0.0) -> Fight:
    """One target. By duration (SimC's default: health percent follows time, so
    execute phases come at the end) or, with `health`, until it dies. Bloodlust at the
    pull, as SimC's default raid casts it (None: no Bloodlust)."""
    number(duration, "patchwerk duration (seconds)", 0.001, MAX_FIGHT_SECONDS)
    if health is not None:
        number(health, "patchwerk health", 1.0, MAX_HEALTH)
        return Fight("patchwerk", f"Patchwerk ({health:,.0f} health)", np.array([[health]], np.float32),
                     np.zeros(1, np.float32), np.zeros(1, np.float32), time_limit=max(duration, 3600.0),
                     pull_is_boss=(True,), objective=OBJECTIVE_CLEAR_TIME, bloodlust_at=bloodlust_at)
    return Fight("patchwerk", f"Patchwerk ({duration:g} s)", np.array([[FIXED_TIME_HEALTH]], np.float32),
                 np.zeros(1, np.float32), np.zeros(1, np.float32), time_limit=duration, fixed_time=True,
                 pull_is_boss=(True,), bloodlust_at=bloodlust_at)


def aoe(targets: int = 5, health_per_target: float = 6_000_000.0, time_limit: float = 600.0,
        bloodlust_at: float | None = 0.0) -> Fight:
    """N targets whose health is staggered from 50 % to 150 % of `health_per_target`,
    so they die one after another and the best finisher changes during the fight.
    The objective is to kill them fast (reward -elapsed / time limit)."""
    if not 1 <= targets <= MAX_ENEMIES_PER_PULL:
        raise InputError(f"aoe targets must be 1..{MAX_ENEMIES_PER_PULL}, got {targets}")
    number(health_per_target, "aoe health per target", 1.0, MAX_HEALTH)
    number(time_limit, "aoe time limit (seconds)", 1.0, MAX_FIGHT_SECONDS)
    spread = np.linspace(0.5, 1.5, targets) if targets > 1 else np.ones(1)
    health = (health_per_target * spread).astype(np.float32)[None, :]
    return Fight("aoe", f"AoE ({targets} targets)", health, np.zeros(1, np.float32),
                 np.zeros(1, np.float32), time_limit=time_limit, objective=OBJECTIVE_CLEAR_TIME,
                 bloodlust_at=bloodlust_at)


def _route_error(text: str, path: str, message: str, pull: int | None = None) -> InputError:
    line = line_of(text, "[[pull]]", pull) if pull is not None else None
    where = f"pull {pull + 1}: " if pull is not None else ""
    return InputError(where + message, path, line)


def _positive(value, what: str, text: str, path: str, pull: int | None, allow_zero=False,
              high: float = MAX_HEALTH) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
            or (value == 0 and not allow_zero) or value > high:
        raise _route_error(text, path, f"'{what}' must be a number {'>=' if allow_zero else '>'} 0 and at most "
                           f"{high:,g}, got {value!r}", pull)
    return float(value)


ROUTE_KEYS = {"name", "dungeon", "timer", "key_level", "group_dps", "armor_reduction", "pull", "enemy_forces", "source",
              "bloodlust_at"}
PULL_KEYS = {"name", "travel", "enemies", "boss", "group_dps", "note", "bloodlust"}
ENEMY_KEYS = {"name", "health", "count", "forces"}


def parse_route(text: str, path: str = "<route>", key_level: int | None = None) -> Fight:
    """Parse route TOML text into a Fight. Errors name the line and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"not valid TOML: {error}", path) from None
    for key in data:
        if key not in ROUTE_KEYS:
            raise InputError(f"unknown route key '{key}'{closest(key, sorted(ROUTE_KEYS))}", path, line_of(text, key))
    for required in ("timer", "pull"):
        if required not in data:
            raise InputError(f"a route needs '{required}'", path)
    pulls = data["pull"]
    if not isinstance(pulls, list) or not pulls:
        raise InputError("a route needs at least one [[pull]]", path)
    timer = _positive(data["timer"], "timer", text, path, None, high=MAX_ROUTE_SECONDS)
    armor = (None if "armor_reduction" not in data else
             _positive(data["armor_reduction"], "armor_reduction", text, path, None, allow_zero=True, high=0.95))
    level = data.get("key_level", 0) if key_level is None else key_level
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 40:
        raise InputError(f"key_level must be a whole number 0..40, got {level!r}", path, line_of(text, "key_level"))
    default_group = _positive(data.get("group_dps", 0.0), "group_dps", text, path, None, allow_zero=True)
    scale = key_level_health_multiplier(level)

    healths, travels, groups, names, bosses, lusts = [], [], [], [], [], []
    for index, pull in enumerate(pulls):
        for key in pull:
            if key not in PULL_KEYS:
                raise _route_error(text, path, f"unknown key '{key}'{closest(key, sorted(PULL_KEYS))}", index)
        enemies = pull.get("enemies")
        if not isinstance(enemies, list) or not enemies:
            raise _route_error(text, path, "needs 'enemies = [ { name = ..., health = ..., count = ... } ]'", index)
        health: list[float] = []
        for enemy in enemies:
            if not isinstance(enemy, dict):
                raise _route_error(text, path, "each enemy must be a table { name, health, count }", index)
            for key in enemy:
                if key not in ENEMY_KEYS:
                    raise _route_error(text, path, f"unknown enemy key '{key}'{closest(key, sorted(ENEMY_KEYS))}", index)
            if "health" not in enemy:
                raise _route_error(text, path, f"enemy '{enemy.get('name', '?')}' needs 'health'", index)
            amount = _positive(enemy["health"], "health", text, path, index)
            count = enemy.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise _route_error(text, path, f"'count' must be a whole number >= 1, got {count!r}", index)
            health += [amount * scale] * count
        if len(health) > MAX_ENEMIES_PER_PULL:
            raise _route_error(text, path, f"{len(health)} enemies; at most {MAX_ENEMIES_PER_PULL} per pull", index)
        healths.append(health)
        travels.append(0.0 if index == 0 and "travel" not in pull
                       else _positive(pull.get("travel", 0.0), "travel", text, path, index, allow_zero=True,
                                      high=MAX_ROUTE_SECONDS))
        groups.append(_positive(pull.get("group_dps", default_group), "group_dps", text, path, index, allow_zero=True))
        names.append(str(pull.get("name", f"Pull {index + 1}")))
        bosses.append(bool(pull.get("boss", False)))
        if not isinstance(pull.get("bloodlust", False), bool):
            raise _route_error(text, path, "'bloodlust' must be true or false", index)
        lusts.append(pull.get("bloodlust", False))

    slots = max(len(h) for h in healths)
    table = np.zeros((len(healths), slots), np.float32)
    for row, health in enumerate(healths):
        table[row, : len(health)] = health
    return Fight(
        "route", str(data.get("name", Path(path).stem)), table, np.array(travels, np.float32),
        np.array(groups, np.float32), time_limit=timer,
        armor_reduction=armor, objective=OBJECTIVE_CLEAR_TIME,
        pull_names=tuple(names), pull_is_boss=tuple(bosses), key_level=level, pull_bloodlust=tuple(lusts),
        bloodlust_at=(_positive(data["bloodlust_at"], "bloodlust_at", text, path, None, allow_zero=True)
                      if "bloodlust_at" in data else None))


def available_routes() -> list[str]:
    return sorted(p.stem for p in ROUTE_DIR.glob("*.toml"))


def load_route(name_or_path: str, key_level: int | None = None) -> Fight:
    """A shipped route by name (see `available_routes`) or a route file by path."""
    path = Path(name_or_path)
    if not path.exists():
        shipped = ROUTE_DIR / f"{name_or_path}.toml"
        if not shipped.exists():
            raise InputError(f"no route file or shipped route '{name_or_path}'"
                             f"{closest(name_or_path, available_routes())}; shipped: {', '.join(available_routes())}")
        path = shipped
    return parse_route(read_text(path, "route"), str(path), key_level)
