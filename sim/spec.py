"""Specs as data: a TOML file of abilities, spells, buffs, debuffs and procs, plus hooks.

`load_spec` reads `sim/specs/<name>.toml`, applies a character's talents (the
file's `talent =` conditions and `[[modifier]]` entries), checks every name it
references, and compiles the tables the engine reads (`SpecTables`). A spec's
special rules live in a hooks module named by the file (`[spec] hooks = ...`);
the engine itself never names an ability. The format is in docs/spec-format.md.

Talents change numbers and switch entries on or off, but never the shapes: a
talent-gated ability is an action that is never legal without its talent, so
every character of a spec shares one action space and one observation (a model
trained for one build can be fine-tuned to another).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import math
import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping

import jax.numpy as jnp
import numpy as np

from portunus.errors import InputError, closest, line_of
from sim.types import (
    SPELL_ALL, SPELL_OTHERS, SPELL_RANDOM, SPELL_TARGET, SPELL_UP_TO, TARGET_ALL, TARGET_NONE, TARGET_PRIMARY, TARGET_UP_TO,
    WAIT_MAX, SpecTables,
)

SPEC_DIR = Path(__file__).parent / "specs"
TARGET_MODES = {"none": TARGET_NONE, "primary": TARGET_PRIMARY, "all": TARGET_ALL, "up_to": TARGET_UP_TO}
SPELL_TARGETS = {"target": SPELL_TARGET, "others": SPELL_OTHERS, "all": SPELL_ALL, "random": SPELL_RANDOM,
                 "up_to": SPELL_UP_TO}
SCHOOLS = ("physical", "holy", "fire", "frost", "nature", "shadow", "arcane")
AUTO_ATTACK = "auto_attack"
HOLY_POWER_SPENT = "resource_spent"   # proc trigger: per point of the spec's first resource spent
STATS = ("primary", "crit", "haste", "mastery", "versatility")

CONDITION_KEYS = {"talent", "not_talent"}
ABILITY_KEYS = CONDITION_KEYS | {
    "name", "label", "spell_id", "gcd", "gcd_hasted", "cast_time", "cooldown", "cooldown_hasted",
    "charges", "cost", "gain", "gain_per_target", "coefficient", "weapon_coefficient", "base_damage",
    "scales_with", "school",
    "damage_multiplier", "mastery", "mastery_scale", "targets", "max_targets", "aoe_soft_cap",
    "usable_below_health", "usable_with_buffs", "unusable_with_buffs", "applies_buffs", "applies_debuffs",
    "debuff_effectiveness", "tags", "major_cooldown", "crit_bonus", "crit_damage_bonus", "secondary_multiplier",
    "item",
}
SPELL_KEYS = CONDITION_KEYS | {
    "name", "label", "spell_id", "coefficient", "weapon_coefficient", "base_damage", "scales_with", "school",
    "damage_multiplier", "mastery", "mastery_scale", "targets", "max_targets", "aoe_soft_cap", "target_multiplier", "crit_bonus",
    "crit_damage_bonus", "crit_splash", "applies_debuffs", "tags",
}
BUFF_KEYS = CONDITION_KEYS | {
    "name", "spell_id", "duration", "max_stacks", "initial_stacks", "damage_multiplier", "affects", "unaffected",
    "extra_multipliers", "damage_per_stack", "crit_bonus", "haste_bonus", "haste_per_stack", "stats", "makes_free", "consumed_by",
    "resets_cooldown_on_gain", "tick_period", "tick_hasted", "tick_on_apply", "tick_deals", "item", "label",
}
DEBUFF_KEYS = CONDITION_KEYS | {
    "name", "spell_id", "duration", "damage_taken_multiplier", "affects", "consumed_by", "max_stacks",
    "stacks_per_application", "tick_period", "tick_hasted", "tick_coefficient", "tick_base_damage",
    "damage_per_stack", "scales_with", "school",
    "mastery", "mastery_scale", "damage_multiplier", "rolling", "expire_coefficient", "accumulate_fraction",
    "label", "tick_deals", "tick_deals_requires_buffs",
}
PROC_KEYS = CONDITION_KEYS | {
    "name", "spell_id", "trigger", "chance", "chance_bonus_on_crit", "chance_per_mastery_point", "on_crit",
    "requires_buffs", "unless_buffs", "grants_buff", "stacks", "refresh", "consumes_buff", "consumes_stacks",
    "resets_cooldown", "reduces_cooldown", "reduces_hasted", "gain", "deals", "applies_debuff", "extends_buff",
}
MODIFIER_KEYS = {"talent", "not_talent", "spell_id", "ability", "spell", "buff", "debuff", "proc",
                 "auto_attack", "spec"}
MODIFIER_OPS = ("add", "multiply", "set", "append")
# The numbers a game's settings may take (beyond them no character or enemy exists).
RAID_BUFF_BOUNDS = {"attack_power_multiplier": (0.5, 3.0), "primary_multiplier": (0.5, 3.0), "crit": (0.0, 1.0),
                    "haste_multiplier": (0.5, 3.0), "mastery_rating": (0.0, 1e6), "mastery_points": (0.0, 100.0),
                    "versatility": (0.0, 1.0), "strikes_per_swing": (1.0, 3.0)}
ENEMY_BOUNDS = {"armor_reduction": (0.0, 0.95), "physical_taken": (0.1, 10.0), "magic_taken": (0.1, 10.0)}
SPEC_NUMBER_BOUNDS = {"base_attack_power": (0.0, 1e6), "weapon_power_coefficient": (0.0, 100.0),
                      "attack_power_per_weapon_dps": (0.1, 100.0)}


def _bounded(value, bounds: tuple[float, float], where: str, key: str, text: str, path: str) -> float:
    low, high = bounds
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not low <= value <= high):
        raise InputError(f"{where} {key} must be a number {low:g}..{high:g}, got {value!r}", path, line_of(text, key))
    return float(value)


def _check_game_settings(data: dict, settings: dict, text: str, path: str) -> None:
    """What differs between games (sim.stats, sim.fights, the addon): the `[raid_buffs]` and
    `[enemy]` tables (into `settings`), the weapon's share of attack power, the client, the
    talent tiers. Known keys and numbers in range only."""
    from portunus.profile import GAMES

    for section, bounds in (("raid_buffs", RAID_BUFF_BOUNDS), ("enemy", ENEMY_BOUNDS)):
        if section not in data:
            continue
        table = data[section]
        if not isinstance(table, dict):
            raise InputError(f"[{section}] must be a table", path, line_of(text, section))
        for key, value in table.items():
            if key not in bounds:
                raise InputError(f"[{section}] unknown key '{key}'{closest(key, sorted(bounds))}", path,
                                 line_of(text, f"[{section}]"))
            _bounded(value, bounds[key], f"[{section}]", key, text, path)
        settings[section] = {key: float(value) for key, value in table.items()}
    for key, bounds in SPEC_NUMBER_BOUNDS.items():
        if key in settings:
            _bounded(settings[key], bounds, "[spec]", key, text, path)
    if "normalized_speed" in data.get("auto_attack", {}):
        _bounded(data["auto_attack"]["normalized_speed"], (0.5, 10.0), "[auto_attack]", "normalized_speed", text, path)
    if settings.get("game", "retail") not in GAMES:
        raise InputError(f"[spec] game must be one of {', '.join(GAMES)}, got {settings['game']!r}", path,
                         line_of(text, "game"))
    if not isinstance(settings.get("secondary_diminishing_returns", True), bool):
        raise InputError("[spec] secondary_diminishing_returns must be true or false", path,
                         line_of(text, "secondary_diminishing_returns"))
    rates = settings.get("steady_rate_by_targets")
    if rates is not None:
        if not isinstance(rates, list) or not 1 <= len(rates) <= 64:
            raise InputError("[spec] steady_rate_by_targets must be a list of 1-64 numbers (the player's DPS "
                             "against 1, 2, ... enemies, in nominal DPS)", path, line_of(text, "steady_rate_by_targets"))
        for rate in rates:
            _bounded(rate, (0.01, 100.0), "[spec]", "steady_rate_by_targets", text, path)
    tiers = settings.get("talent_tiers")
    if tiers is not None and (not isinstance(tiers, list) or not tiers or not all(
            isinstance(tier, list) and 1 <= len(tier) <= 3 and all(isinstance(n, str) for n in tier) for tier in tiers)):
        raise InputError("[spec] talent_tiers must be a list of tiers, each a list of 1-3 talent names", path,
                         line_of(text, "talent_tiers"))


@dataclasses.dataclass(frozen=True)
class SpecHooks:
    """The few spec rules that are code, not data. All are pure JAX functions.

    mastery_multiplier(stats, tables) -> f32[S]: damage multiplier per source.
    legal_mask(state, tables, mask) -> bool[N]: extra legality rules.
    after_step(state, spec) -> State: rules checked once per decision (e.g. a buff
        that converts at full stacks), after the step's damage and time.
    """

    mastery_multiplier: Callable[..., Any] | None = None
    legal_mask: Callable[..., Any] | None = None
    after_step: Callable[..., Any] | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Spec:
    """A compiled spec for one set of talents: names for people, tables for the engine."""

    name: str
    class_name: str
    spec_name: str
    ability_names: tuple[str, ...]
    ability_labels: tuple[str, ...]
    ability_spell_ids: tuple[int, ...]
    spell_names: tuple[str, ...]
    spell_labels: tuple[str, ...]
    buff_names: tuple[str, ...]
    debuff_names: tuple[str, ...]
    debuff_labels: tuple[str, ...]
    proc_names: tuple[str, ...]
    resource_names: tuple[str, ...]
    tables: SpecTables
    hooks: SpecHooks
    settings: dict[str, Any]
    has_cast_times: bool
    path: str
    ability_layout: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    one_charge_per_step: bool = False  # no cooldown can recover twice within one step of play
    # What the in-game addon tracks (see portunus/addon_tables.py): the game's ids in spec order.
    buff_spell_ids: tuple[int, ...] = ()
    debuff_spell_ids: tuple[int, ...] = ()
    resource_power_types: tuple[int, ...] = ()  # WoW's Enum.PowerType per resource
    target_slots: int = 1  # enemy slots a targeted ability can be aimed at (actions per targeted ability)
    talents: Mapping[str, int] = dataclasses.field(default_factory=dict)  # the loadout compiled in
    ability_enabled: tuple[bool, ...] = ()
    ability_items: tuple[str, ...] = ()   # "" or the item slot an ability uses (trinket1, potion)

    @property
    def wow_spec_id(self) -> int:
        """The game's specialization id (GetSpecializationInfo), 0 when the spec file has none."""
        return int(self.settings.get("wow_spec_id", 0))

    @property
    def ability_targeted(self) -> tuple[bool, ...]:
        """Abilities that act on a chosen enemy (single-target): one action per target slot."""
        return tuple(bool(m == TARGET_PRIMARY) for m in np.asarray(self.tables.target_mode))

    @functools.cached_property
    def action_layout(self) -> tuple[tuple[int, int], ...]:
        """(ability, slot) per action, in ability order: a targeted ability has one action per
        enemy slot 0..target_slots-1 (slot 0 is the first enemy, the tank's target), any other
        ability one action (slot -1: it acts on the current target or on all); wait is last
        (ability index A, slot -1)."""
        layout = []
        for index, targeted in enumerate(self.ability_targeted):
            if targeted:
                layout.extend((index, slot) for slot in range(self.target_slots))
            else:
                layout.append((index, -1))
        return tuple(layout) + ((self.num_abilities, -1),)

    @functools.cached_property
    def action_ability(self) -> np.ndarray:
        """i32[N]: the ability index of each action (A for wait)."""
        return np.array([a for a, _ in self.action_layout], np.int32)

    @functools.cached_property
    def action_slot(self) -> np.ndarray:
        """i32[N]: the enemy slot of each targeted action, -1 for the others."""
        return np.array([s for _, s in self.action_layout], np.int32)

    @functools.cached_property
    def ability_first_action(self) -> np.ndarray:
        """i32[A + 1]: the first action of each ability (its slot-0 action when targeted); last = wait."""
        first = np.zeros(self.num_abilities + 1, np.int32)
        for action, (ability, _) in reversed(list(enumerate(self.action_layout))):
            first[ability] = action
        return first

    @property
    def num_abilities(self) -> int:
        return len(self.ability_names)

    @property
    def num_actions(self) -> int:
        """Abilities, one per target slot where they take a target, plus the wait action (last)."""
        return len(self.action_layout)

    @property
    def wait_action(self) -> int:
        return self.num_actions - 1

    @functools.cached_property
    def action_names(self) -> tuple[str, ...]:
        """'judgment@2' is Judgment on enemy slot 2; untargeted abilities, 'wait', and every action
        of a spec with one target slot keep their plain name."""
        names = tuple(self.ability_names) + ("wait",)
        return tuple(names[a] if s < 0 or self.target_slots == 1 else f"{names[a]}@{s}"
                     for a, s in self.action_layout)

    @functools.cached_property
    def action_labels(self) -> tuple[str, ...]:
        labels = tuple(self.ability_labels) + ("Wait",)
        return tuple(labels[a] if s < 0 or self.target_slots == 1 else f"{labels[a]} (enemy {s + 1})"
                     for a, s in self.action_layout)

    @functools.cached_property
    def action_major_cooldown(self) -> np.ndarray:
        """bool[N]: actions of the spec's major cooldowns (for "hold cooldowns")."""
        major = np.append(np.asarray(self.tables.major_cooldown), False)
        return major[self.action_ability]

    @property
    def source_names(self) -> tuple[str, ...]:
        """Damage sources: abilities, the auto attack, debuffs (periodic or expiring), then spells
        (damage that no button casts directly: a cleave, a proc, a hammer from the sky)."""
        return (self.ability_names + (AUTO_ATTACK,) + tuple(f"{d}_debuff" for d in self.debuff_names)
                + self.spell_names)

    @property
    def source_labels(self) -> tuple[str, ...]:
        auto = self.settings.get("auto_attack", {}).get("label", "Auto Attack")
        return self.ability_labels + (auto,) + self.debuff_labels + self.spell_labels

    def talent(self, name: str) -> int:
        """The rank of a talent (or loadout flag such as a set bonus) this spec was compiled with."""
        return int(self.talents.get(name, 0))

    def action_index(self, name: str) -> int:
        """The action called `name`; a targeted ability's plain name is its action on slot 0."""
        if name in self.action_names:
            return self.action_names.index(name)
        if name in self.ability_names:
            return int(self.ability_first_action[self.ability_names.index(name)])
        raise InputError(f"unknown action '{name}' for {self.name}{closest(name, list(self.action_names))}")

    def action_of(self, ability: str, slot: int = 0) -> int:
        """The action using `ability` on enemy `slot` (the slot is ignored for untargeted abilities)."""
        index = self.action_index(ability)
        return index + slot if self.action_slot[index] >= 0 else index


# ----------------------------------------------------------------- talents and modifiers
def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def talent_rank(talents: Mapping[str, int], condition: str) -> int:
    """The rank a condition 'name' or 'name:N' (rank N or more) sees: 0 when it fails."""
    name, _, least = condition.partition(":")
    rank = int(talents.get(name, 0))
    return rank if rank >= (int(least) if least.isdigit() else 1) else 0


def _condition_holds(entry: dict, talents: Mapping[str, int]) -> bool:
    """An entry's `talent` (a name or list: all needed) and `not_talent` (any excludes it)."""
    return (all(talent_rank(talents, n) > 0 for n in _names(entry.get("talent", [])))
            and not any(talent_rank(talents, n) > 0 for n in _names(entry.get("not_talent", []))))


def _rank_value(value, rank: int, where: str, path: str, text: str):
    """A modifier value: a number for every rank, or a list with one number per rank."""
    if isinstance(value, list):
        if not value:
            raise InputError(f"{where}: an empty list", path, line_of(text, where.split(".")[-1]))
        return value[min(rank, len(value)) - 1]
    return value


def _apply_modifiers(data: dict, talents: Mapping[str, int], text: str, path: str) -> None:
    """Apply every `[[modifier]]` whose talent the loadout has, in file order, to the parsed
    entries: `ability.NAME.FIELD = { add | multiply | set | append = value }` and the same for
    `spell`, `buff`, `debuff`, `proc`, and `auto_attack.FIELD` / `spec.FIELD`."""
    for index, modifier in enumerate(data.get("modifier", [])):
        line = line_of(text, "[[modifier]]", index)
        for key in modifier:
            if key not in MODIFIER_KEYS:
                raise InputError(f"[[modifier]] #{index + 1}: unknown key '{key}'{closest(key, sorted(MODIFIER_KEYS))}",
                                 path, line)
        if not _condition_holds(modifier, talents):
            continue
        rank = max([talent_rank(talents, n) for n in _names(modifier.get("talent", []))] or [1])
        for kind in ("ability", "spell", "buff", "debuff", "proc"):
            for entry_name, fields in modifier.get(kind, {}).items():
                entries = [e for e in data.get(kind, []) if e.get("name") == entry_name]
                if not entries:
                    known = [e.get("name", "") for e in data.get(kind, [])]
                    raise InputError(f"[[modifier]] #{index + 1}: unknown {kind} '{entry_name}'"
                                     f"{closest(entry_name, known)}", path, line)
                for entry in entries:
                    _modify(entry, fields, rank, f"{kind}.{entry_name}", path, text, line)
        for kind in ("auto_attack", "spec"):
            if kind in modifier:
                _modify(data.setdefault(kind, {}), modifier[kind], rank, kind, path, text, line)


def _modify(entry: dict, fields: dict, rank: int, where: str, path: str, text: str, line: int) -> None:
    for field, change in fields.items():
        if not isinstance(change, dict) or len(change) != 1 or next(iter(change)) not in MODIFIER_OPS:
            raise InputError(f"[[modifier]] {where}.{field}: expected {{ add | multiply | set | append = value }}",
                             path, line)
        op, value = next(iter(change.items()))
        value = _rank_value(value, rank, f"{where}.{field}", path, text) if op != "append" else value
        old = entry.get(field)
        if op == "set":
            entry[field] = value
        elif op == "append":
            old = [] if old is None else ([old] if isinstance(old, str) else list(old))
            entry[field] = old + (value if isinstance(value, list) else [value])
        elif op == "add" and isinstance(value, dict):
            merged = dict(old or {})
            for k, v in value.items():
                merged[k] = merged.get(k, 0) + v
            entry[field] = merged
        else:
            if old is None and op == "add":
                raise InputError(f"[[modifier]] {where}.{field}: the entry sets no '{field}' to add to: "
                                 f"write its value in the entry", path, line)
            base = old if old is not None else 1.0
            if isinstance(base, bool) or not isinstance(base, (int, float)):
                raise InputError(f"[[modifier]] {where}.{field}: cannot {op} {base!r}", path, line)
            entry[field] = base + value if op == "add" else base * value


def referenced_talents(text: str) -> set[str]:
    """Every talent or loadout flag a spec file names in `talent` / `not_talent` conditions."""
    data = tomllib.loads(text)
    names: set[str] = set()
    for kind in ("ability", "spell", "buff", "debuff", "proc", "modifier"):
        for entry in data.get(kind, []):
            for key in ("talent", "not_talent"):
                names.update(n.partition(":")[0] for n in _names(entry.get(key, [])))
    return names


# ----------------------------------------------------------------- reading entries
class _SpecReader:
    """Turns parsed TOML into arrays, with errors that name the entry and its line."""

    def __init__(self, data: dict, text: str, path: str):
        self.data, self.text, self.path = data, text, path
        self.abilities = data.get("ability", [])
        self.spells = data.get("spell", [])
        self.buffs = data.get("buff", [])
        self.debuffs = data.get("debuff", [])
        self.procs = data.get("proc", [])
        self.resources = data.get("resource", [])
        self.ability_names = [self._name(e, "ability", i) for i, e in enumerate(self.abilities)]
        self.spell_names = [self._name(e, "spell", i) for i, e in enumerate(self.spells)]
        self.buff_names = [self._name(e, "buff", i) for i, e in enumerate(self.buffs)]
        self.debuff_names = [self._name(e, "debuff", i) for i, e in enumerate(self.debuffs)]
        self.resource_names = [self._name(e, "resource", i) for i, e in enumerate(self.resources)]
        self.tags: dict[str, set[str]] = {}
        for entry in self.abilities + self.spells:
            for tag in entry.get("tags", []):
                self.tags.setdefault(tag, set()).add(entry["name"])
        for kind, names in (("ability", self.ability_names), ("spell", self.spell_names),
                            ("buff", self.buff_names), ("debuff", self.debuff_names),
                            ("resource", self.resource_names)):
            duplicates = {n for n in names if names.count(n) > 1}
            if duplicates:
                raise InputError(f"duplicate {kind} name '{sorted(duplicates)[0]}'", path,
                                 line_of(text, f'name = "{sorted(duplicates)[0]}"', 1))
        clash = set(self.ability_names) & set(self.spell_names)
        if clash:
            raise InputError(f"'{sorted(clash)[0]}' is both an ability and a spell", path,
                             line_of(text, f'name = "{sorted(clash)[0]}"', 2))

    def error(self, kind: str, index: int, message: str) -> InputError:
        line = line_of(self.text, f"[[{kind}]]", index)
        entry = self.data.get(kind, [{}])[index] if kind in self.data else {}
        label = entry.get("name", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
        return InputError(f"[[{kind}]] '{label}': {message}", self.path, line)

    def _name(self, entry: dict, kind: str, index: int) -> str:
        name = entry.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise self.error(kind, index, "needs a 'name' made of letters, digits and _")
        return name

    def check_keys(self, entry: dict, allowed: set[str], kind: str, index: int) -> None:
        for key in entry:
            if key not in allowed:
                raise self.error(kind, index, f"unknown key '{key}'{closest(key, sorted(allowed))}")

    def number(self, entry: dict, key: str, default: float, kind: str, index: int,
               low: float = 0.0, high: float = float("inf")) -> float:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(kind, index, f"'{key}' must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise self.error(kind, index, f"'{key}' = {value} is outside {low}..{high}")
        return float(value)

    def flag(self, entry: dict, key: str, default: bool, kind: str, index: int) -> bool:
        value = entry.get(key, default)
        if not isinstance(value, bool):
            raise self.error(kind, index, f"'{key}' must be true or false, got {value!r}")
        return value

    def choice(self, entry: dict, key: str, default: str, options, kind: str, index: int) -> str:
        value = entry.get(key, default)
        if value not in options:
            raise self.error(kind, index, f"'{key}' = {value!r}: expected one of {', '.join(options)}")
        return value

    def names(self, entry: dict, key: str, known: list[str], kind: str, index: int,
              what: str, allow_tags: bool = False, extra: tuple[str, ...] = ()) -> set[str]:
        """Resolve a list of names (and tags like 'spender', or 'all') into names."""
        value = entry.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.error(kind, index, f"'{key}' must be a list of names")
        resolved: set[str] = set()
        for name in value:
            if name == "all" and allow_tags:
                resolved.update(known)
                resolved.update(extra)
            elif allow_tags and name in self.tags:
                resolved.update(n for n in self.tags[name] if n in known or n in extra)
            elif name in known or name in extra:
                resolved.add(name)
            else:
                candidates = list(known) + list(extra) + (list(self.tags) if allow_tags else [])
                raise self.error(kind, index, f"unknown {what} '{name}' in '{key}'{closest(name, candidates)}")
        return resolved

    def amounts(self, entry: dict, key: str, kind: str, index: int) -> np.ndarray:
        value = entry.get(key, {})
        out = np.zeros(len(self.resource_names), np.float32)
        if not isinstance(value, dict):
            raise self.error(kind, index, f"'{key}' must be a table like {{ holy_power = 1 }}")
        for name, amount in value.items():
            if name not in self.resource_names:
                raise self.error(kind, index, f"unknown resource '{name}' in '{key}'"
                                 f"{closest(name, self.resource_names)}")
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
                raise self.error(kind, index, f"'{key}.{name}' must be a finite number")
            out[self.resource_names.index(name)] = amount
        return out

    def table(self, entry: dict, key: str, known: list[str], kind: str, index: int, what: str,
              low: float = -1e9, high: float = 1e9) -> dict[str, float]:
        """`{ name = number }` with every name checked."""
        value = entry.get(key, {})
        if not isinstance(value, dict):
            raise self.error(kind, index, f"'{key}' must be a table like {{ {what} = 1 }}")
        out = {}
        for name, amount in value.items():
            if name not in known:
                raise self.error(kind, index, f"unknown {what} '{name}' in '{key}'{closest(name, known)}")
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) \
                    or not low <= amount <= high:
                raise self.error(kind, index, f"'{key}.{name}' must be a number in {low}..{high}")
            out[name] = float(amount)
        return out


def _mask(names: set[str], order: list[str] | tuple[str, ...]) -> np.ndarray:
    return np.array([n in names for n in order], bool)


# ----------------------------------------------------------------- compiling
def _apply_items(data: dict, items: Mapping[str, Mapping]) -> None:
    """Entries marked `item = "<slot>"` take the equipped item's numbers (sim/data/items.toml):
    an ability its cooldown, a buff its duration and stat."""
    for kind in ("ability", "buff"):
        for entry in data.get(kind, []):
            item = items.get(entry.get("item", ""))
            if item is None:
                continue
            entry["label"] = str(item.get("name", entry.get("label", ""))).replace("_", " ").title()
            if kind == "ability":
                entry["cooldown"] = float(item.get("cooldown", entry.get("cooldown", 0.0)))
            else:
                entry["duration"] = float(item.get("duration", entry.get("duration", 1.0)))
                entry["stats"] = {item["stat"]: float(item["amount"])}


def compile_spec(text: str, path: str = "<spec>", talents: Mapping[str, int] | None = None,
                 items: Mapping[str, Mapping] | None = None) -> Spec:
    """Compile spec TOML text for a loadout: talents and flags (name -> rank; None = the file's
    `[spec] default_talents`) and on-use items by slot. Raises InputError naming the entry and line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"not valid TOML: {error}", path) from None
    if "spec" not in data or not isinstance(data["spec"], dict):
        raise InputError("missing the [spec] table", path, 1)
    if talents is None:
        talents = {name: 1 for name in data["spec"].get("default_talents", [])}
    talents = dict(talents)
    data = copy.deepcopy(data)
    _apply_modifiers(data, talents, text, path)
    _apply_items(data, items or {})
    reader = _SpecReader(data, text, path)
    settings = dict(data["spec"])
    for required in ("name", "class", "spec"):
        if required not in settings:
            raise InputError(f"[spec] needs '{required}'", path, line_of(text, "[spec]"))
    _check_game_settings(data, settings, text, path)
    if not reader.abilities:
        raise InputError("a spec needs at least one [[ability]]", path)

    ability_names, spell_names = reader.ability_names, reader.spell_names
    buff_names, debuff_names = reader.buff_names, reader.debuff_names
    debuff_sources = [f"{d}_debuff" for d in debuff_names]
    source_names = ability_names + [AUTO_ATTACK] + debuff_sources + spell_names
    A, T, B, D = len(ability_names), len(spell_names), len(buff_names), len(debuff_names)
    # Procs of talents the character lacks are dropped (their names are still checked): the
    # engine evaluates every proc row at every step.
    for i, entry in enumerate(reader.procs):
        reader.check_keys(entry, PROC_KEYS, "proc", i)
    procs = [(i, e) for i, e in enumerate(reader.procs) if _condition_holds(e, talents)]
    R, S, P = len(reader.resource_names), len(source_names), len(procs)
    spell_base = A + 1 + D  # first spell source

    f32 = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    t = dict(
        gcd=f32(A), gcd_hasted=np.zeros(A, bool), cast_time=f32(A), cooldown=f32(A),
        cooldown_hasted=np.zeros(A, bool), max_charges=np.ones(A, np.int32),
        cost=f32(A, R), gain=f32(A, R), gain_per_target=f32(A, R), coefficient=f32(A),
        weapon_coefficient=f32(A), base_damage=f32(A),
        uses_spell_power=np.zeros(A, bool), target_mode=np.zeros(A, np.int32),
        max_targets=np.zeros(A, np.int32), aoe_soft_cap=np.zeros(A, np.int32),
        secondary_multiplier=np.ones(A, np.float32),
        usable_below_health=f32(A), usable_with_buffs=np.zeros((A, B), bool),
        has_usable_condition=np.zeros(A, bool), unusable_with_buffs=np.zeros((A, B), bool),
        applies_buff=np.zeros((A, B), bool), applies_debuff=np.zeros((A, D), bool),
        debuff_effectiveness=np.ones(A, np.float32), major_cooldown=np.zeros(A, bool),
        enabled=np.ones(A, bool),
        source_multiplier=np.ones(S, np.float32), source_physical=np.zeros(S, bool),
        source_mastery=np.zeros(S, bool), source_mastery_scale=np.ones(S, np.float32),
        source_crit_bonus=f32(S), source_crit_damage_bonus=f32(S),
    )
    labels, spell_ids, items = [], [], []
    for i, entry in enumerate(reader.abilities):
        reader.check_keys(entry, ABILITY_KEYS, "ability", i)
        labels.append(str(entry.get("label", entry["name"].replace("_", " ").title())))
        spell_ids.append(int(reader.number(entry, "spell_id", 0, "ability", i)))
        items.append(str(entry.get("item", "")))
        t["enabled"][i] = _condition_holds(entry, talents)
        t["gcd"][i] = reader.number(entry, "gcd", 1.5, "ability", i, high=10)
        t["gcd_hasted"][i] = reader.flag(entry, "gcd_hasted", False, "ability", i)
        t["cast_time"][i] = reader.number(entry, "cast_time", 0.0, "ability", i, high=60)
        t["cooldown"][i] = reader.number(entry, "cooldown", 0.0, "ability", i, high=3600)
        t["cooldown_hasted"][i] = reader.flag(entry, "cooldown_hasted", False, "ability", i)
        t["max_charges"][i] = int(reader.number(entry, "charges", 1, "ability", i, low=1, high=10))
        t["cost"][i] = reader.amounts(entry, "cost", "ability", i)
        t["gain"][i] = reader.amounts(entry, "gain", "ability", i)
        t["gain_per_target"][i] = reader.amounts(entry, "gain_per_target", "ability", i)
        t["coefficient"][i] = reader.number(entry, "coefficient", 0.0, "ability", i)
        t["weapon_coefficient"][i] = reader.number(entry, "weapon_coefficient", 0.0, "ability", i, high=100)
        t["base_damage"][i] = reader.number(entry, "base_damage", 0.0, "ability", i, high=1e8)
        scales = reader.choice(entry, "scales_with", "attack_power", ("attack_power", "spell_power"), "ability", i)
        t["uses_spell_power"][i] = scales == "spell_power"
        _read_source(reader, entry, "ability", i, t, i, default_school="physical")
        mode = reader.choice(entry, "targets", "primary", tuple(TARGET_MODES), "ability", i)
        t["target_mode"][i] = TARGET_MODES[mode]
        if mode == "up_to" and "max_targets" not in entry:
            raise reader.error("ability", i, "targets = 'up_to' needs 'max_targets'")
        t["max_targets"][i] = int(reader.number(entry, "max_targets", 0, "ability", i, high=100))
        t["aoe_soft_cap"][i] = int(reader.number(entry, "aoe_soft_cap", 0, "ability", i, high=100))
        t["secondary_multiplier"][i] = reader.number(entry, "secondary_multiplier", 1.0, "ability", i, high=10)
        t["usable_below_health"][i] = reader.number(entry, "usable_below_health", 0.0, "ability", i, high=1)
        usable_buffs = reader.names(entry, "usable_with_buffs", buff_names, "ability", i, "buff")
        t["usable_with_buffs"][i] = _mask(usable_buffs, buff_names)
        t["has_usable_condition"][i] = bool(usable_buffs) or t["usable_below_health"][i] > 0
        t["unusable_with_buffs"][i] = _mask(
            reader.names(entry, "unusable_with_buffs", buff_names, "ability", i, "buff"), buff_names)
        t["applies_buff"][i] = _mask(reader.names(entry, "applies_buffs", buff_names, "ability", i, "buff"), buff_names)
        t["applies_debuff"][i] = _mask(
            reader.names(entry, "applies_debuffs", debuff_names, "ability", i, "debuff"), debuff_names)
        t["debuff_effectiveness"][i] = reader.number(entry, "debuff_effectiveness", 1.0, "ability", i, high=10)
        t["major_cooldown"][i] = reader.flag(entry, "major_cooldown", False, "ability", i)
        if t["applies_debuff"][i].any() and mode == "none":
            raise reader.error("ability", i, "applies a debuff but has targets = 'none'")

    auto = dict(data.get("auto_attack", {}))
    auto_index = A
    t["source_multiplier"][auto_index] = 0.0
    if auto:
        t["source_multiplier"][auto_index] = float(auto.get("damage_multiplier", 1.0))
        t["source_physical"][auto_index] = auto.get("school", "physical") == "physical"
        t["source_mastery"][auto_index] = bool(auto.get("mastery", False))
        t["source_crit_bonus"][auto_index] = float(auto.get("crit_bonus", 0.0))
        t["source_crit_damage_bonus"][auto_index] = float(auto.get("crit_damage_bonus", 0.0))
    auto_spell = np.zeros(T, np.float32)
    if "spell" in auto:
        if auto["spell"] not in spell_names:
            raise InputError(f"[auto_attack] spell: unknown spell '{auto['spell']}'{closest(auto['spell'], spell_names)}",
                             path, line_of(text, "[auto_attack]"))
        auto_spell[spell_names.index(auto["spell"])] = 1.0
    auto_gain = np.zeros(R, np.float32)
    for name, amount in dict(auto.get("gain", {})).items():
        if name not in reader.resource_names:
            raise InputError(f"[auto_attack] gain: unknown resource '{name}'", path, line_of(text, "[auto_attack]"))
        auto_gain[reader.resource_names.index(name)] = amount

    s = dict(
        spell_coefficient=f32(T), spell_weapon_coefficient=f32(T), spell_base_damage=f32(T), spell_uses_spell_power=np.zeros(T, bool), spell_target_mode=np.zeros(T, np.int32),
        spell_max_targets=np.zeros(T, np.int32), spell_aoe_soft_cap=np.zeros(T, np.int32),
        spell_target_multiplier=np.ones(T, np.float32), spell_crit_splash=f32(T),
        spell_applies_debuff=np.zeros((T, D), bool),
    )
    spell_labels = []
    for i, entry in enumerate(reader.spells):
        reader.check_keys(entry, SPELL_KEYS, "spell", i)
        spell_labels.append(str(entry.get("label", entry["name"].replace("_", " ").title())))
        s["spell_coefficient"][i] = reader.number(entry, "coefficient", 0.0, "spell", i)
        s["spell_weapon_coefficient"][i] = reader.number(entry, "weapon_coefficient", 0.0, "spell", i, high=100)
        s["spell_base_damage"][i] = reader.number(entry, "base_damage", 0.0, "spell", i, high=1e8)
        scales = reader.choice(entry, "scales_with", "attack_power", ("attack_power", "spell_power"), "spell", i)
        s["spell_uses_spell_power"][i] = scales == "spell_power"
        s["spell_target_mode"][i] = SPELL_TARGETS[reader.choice(entry, "targets", "target", tuple(SPELL_TARGETS),
                                                                "spell", i)]
        s["spell_max_targets"][i] = int(reader.number(entry, "max_targets", 100, "spell", i, high=100))
        s["spell_aoe_soft_cap"][i] = int(reader.number(entry, "aoe_soft_cap", 0, "spell", i, high=100))
        s["spell_target_multiplier"][i] = reader.number(entry, "target_multiplier", 1.0, "spell", i, high=100)
        s["spell_crit_splash"][i] = reader.number(entry, "crit_splash", 0.0, "spell", i, high=10)
        s["spell_applies_debuff"][i] = _mask(
            reader.names(entry, "applies_debuffs", debuff_names, "spell", i, "debuff"), debuff_names)
        _read_source(reader, entry, "spell", i, t, spell_base + i, default_school="holy")
        if not _condition_holds(entry, talents):
            t["source_multiplier"][spell_base + i] = 0.0

    b = dict(
        buff_duration=f32(B), buff_max_stacks=np.ones(B, np.int32), buff_initial_stacks=np.ones(B, np.int32),
        buff_source_multiplier=np.ones((B, S), np.float32), buff_damage_per_stack=np.zeros(B, bool),
        buff_crit_bonus=f32(B), buff_haste_bonus=f32(B),
        buff_haste_per_stack=f32(B), buff_stats=f32(B, len(STATS)),
        buff_makes_free=np.zeros((B, A), bool), buff_consumed_by=np.zeros((B, A), bool),
        buff_resets_on_gain=np.zeros((B, A), bool), buff_tick_period=f32(B), buff_tick_hasted=np.zeros(B, bool),
        buff_tick_on_apply=np.zeros(B, bool), buff_tick_deals=f32(B, T), buff_enabled=np.ones(B, bool),
    )
    for i, entry in enumerate(reader.buffs):
        reader.check_keys(entry, BUFF_KEYS, "buff", i)
        b["buff_enabled"][i] = _condition_holds(entry, talents)
        b["buff_duration"][i] = reader.number(entry, "duration", 0.0, "buff", i, low=0.001, high=3600)
        b["buff_max_stacks"][i] = int(reader.number(entry, "max_stacks", 1, "buff", i, low=1, high=100))
        b["buff_initial_stacks"][i] = int(reader.number(entry, "initial_stacks", 1, "buff", i, low=1,
                                                        high=b["buff_max_stacks"][i]))
        multiplier = reader.number(entry, "damage_multiplier", 1.0, "buff", i)
        sources = reader.names(entry, "affects", source_names, "buff", i, "ability or source", allow_tags=True)
        sources -= reader.names(entry, "unaffected", source_names, "buff", i, "ability or source", allow_tags=True)
        b["buff_source_multiplier"][i] = np.where(_mask(sources, source_names), multiplier, 1.0)
        for name, extra in reader.table(entry, "extra_multipliers", source_names, "buff", i, "source",
                                        low=0.0, high=100.0).items():
            b["buff_source_multiplier"][i, source_names.index(name)] *= extra
        b["buff_damage_per_stack"][i] = reader.flag(entry, "damage_per_stack", False, "buff", i)
        b["buff_crit_bonus"][i] = reader.number(entry, "crit_bonus", 0.0, "buff", i, high=1)
        b["buff_haste_bonus"][i] = reader.number(entry, "haste_bonus", 0.0, "buff", i, high=10)
        b["buff_haste_per_stack"][i] = reader.number(entry, "haste_per_stack", 0.0, "buff", i, high=10)
        for stat, amount in reader.table(entry, "stats", list(STATS), "buff", i, "stat", low=0.0, high=1e6).items():
            b["buff_stats"][i, STATS.index(stat)] = amount
        b["buff_makes_free"][i] = _mask(
            reader.names(entry, "makes_free", ability_names, "buff", i, "ability", allow_tags=True), ability_names)
        b["buff_consumed_by"][i] = _mask(
            reader.names(entry, "consumed_by", ability_names, "buff", i, "ability", allow_tags=True), ability_names)
        b["buff_resets_on_gain"][i] = _mask(
            reader.names(entry, "resets_cooldown_on_gain", ability_names, "buff", i, "ability"), ability_names)
        b["buff_tick_period"][i] = reader.number(entry, "tick_period", 0.0, "buff", i, high=60)
        b["buff_tick_hasted"][i] = reader.flag(entry, "tick_hasted", False, "buff", i)
        b["buff_tick_on_apply"][i] = reader.flag(entry, "tick_on_apply", False, "buff", i)
        for name, count in reader.table(entry, "tick_deals", spell_names, "buff", i, "spell", low=0, high=20).items():
            b["buff_tick_deals"][i, spell_names.index(name)] = count
        if b["buff_tick_deals"][i].any() and b["buff_tick_period"][i] <= 0:
            raise reader.error("buff", i, "'tick_deals' needs a 'tick_period'")

    d = dict(
        debuff_duration=f32(D), debuff_taken_multiplier=np.ones(D, np.float32),
        debuff_affects=np.zeros((D, S), bool), debuff_consumed_by=np.zeros((D, S), bool),
        debuff_max_stacks=np.ones(D, np.int32), debuff_stacks_per_application=np.ones(D, np.int32),
        debuff_periodic=np.zeros(D, bool), debuff_tick_period=np.ones(D, np.float32),
        debuff_tick_hasted=np.zeros(D, bool), debuff_tick_coefficient=f32(D),
        debuff_tick_base=f32(D), debuff_damage_per_stack=np.zeros(D, bool),
        debuff_rolling=np.zeros(D, bool), debuff_expire_coefficient=f32(D),
        debuff_accumulate_fraction=f32(D), debuff_uses_spell_power=np.zeros(D, bool),
        debuff_tick_deals=f32(D, T), debuff_tick_requires=np.zeros((D, B), bool),
    )
    debuff_labels = []
    for i, entry in enumerate(reader.debuffs):
        reader.check_keys(entry, DEBUFF_KEYS, "debuff", i)
        debuff_labels.append(str(entry.get("label", entry["name"].replace("_", " ").title())))
        source = A + 1 + i
        d["debuff_duration"][i] = reader.number(entry, "duration", 0.0, "debuff", i, low=0.001, high=3600)
        d["debuff_taken_multiplier"][i] = reader.number(entry, "damage_taken_multiplier", 1.0, "debuff", i)
        d["debuff_affects"][i] = _mask(
            reader.names(entry, "affects", source_names, "debuff", i, "ability or source", allow_tags=True),
            source_names)
        d["debuff_consumed_by"][i] = _mask(
            reader.names(entry, "consumed_by", source_names, "debuff", i, "ability or source", allow_tags=True),
            source_names)
        d["debuff_max_stacks"][i] = int(reader.number(entry, "max_stacks", 1, "debuff", i, low=1, high=100))
        d["debuff_stacks_per_application"][i] = int(reader.number(entry, "stacks_per_application", 1, "debuff", i,
                                                                  low=1, high=100))
        d["debuff_periodic"][i] = "tick_coefficient" in entry or "tick_base_damage" in entry
        d["debuff_tick_period"][i] = reader.number(entry, "tick_period", 1.0, "debuff", i, low=0.01, high=60)
        d["debuff_tick_hasted"][i] = reader.flag(entry, "tick_hasted", False, "debuff", i)
        d["debuff_tick_coefficient"][i] = reader.number(entry, "tick_coefficient", 0.0, "debuff", i)
        d["debuff_tick_base"][i] = reader.number(entry, "tick_base_damage", 0.0, "debuff", i, high=1e8)
        d["debuff_damage_per_stack"][i] = reader.flag(entry, "damage_per_stack", False, "debuff", i)
        d["debuff_rolling"][i] = reader.flag(entry, "rolling", False, "debuff", i)
        d["debuff_expire_coefficient"][i] = reader.number(entry, "expire_coefficient", 0.0, "debuff", i)
        d["debuff_accumulate_fraction"][i] = reader.number(entry, "accumulate_fraction", 0.0, "debuff", i, high=10)
        scales = reader.choice(entry, "scales_with", "attack_power", ("attack_power", "spell_power"), "debuff", i)
        d["debuff_uses_spell_power"][i] = scales == "spell_power"
        for name, count in reader.table(entry, "tick_deals", spell_names, "debuff", i, "spell", low=0, high=20).items():
            d["debuff_tick_deals"][i, spell_names.index(name)] = count
        d["debuff_tick_requires"][i] = _mask(
            reader.names(entry, "tick_deals_requires_buffs", buff_names, "debuff", i, "buff"), buff_names)
        _read_source(reader, entry, "debuff", i, t, source, default_school="physical")

    trigger_columns = ability_names + [AUTO_ATTACK, HOLY_POWER_SPENT] + spell_names
    C = len(trigger_columns)
    p = dict(
        proc_trigger=f32(P, C), proc_on_crit=np.zeros(P, bool), proc_chance=f32(P), proc_bonus_on_crit=f32(P),
        proc_chance_per_mastery=f32(P), proc_requires=np.zeros((P, B), bool), proc_has_requirement=np.zeros(P, bool),
        proc_unless=np.zeros((P, B), bool), proc_grants_buff=np.zeros((P, B), bool), proc_stacks=np.ones(P, np.int32),
        proc_refresh=np.ones(P, bool), proc_consumes_buff=np.zeros((P, B), bool), proc_consumes_stacks=np.zeros(P, bool),
        proc_resets=np.zeros((P, A), bool), proc_reduces=f32(P, A), proc_reduces_hasted=np.zeros(P, bool), proc_gain=f32(P, R), proc_deals=f32(P, T),
        proc_applies_debuff=np.zeros((P, D), bool), proc_extends=f32(P, B), proc_enabled=np.ones(P, bool),
    )
    for j, (i, entry) in enumerate(procs):
        reader._name(entry, "proc", i)
        triggers = reader.names(entry, "trigger", ability_names + spell_names, "proc", i, "ability or spell",
                                allow_tags=True, extra=(AUTO_ATTACK, HOLY_POWER_SPENT))
        if not triggers:
            raise reader.error("proc", i, f"needs a 'trigger' (abilities, spells, a tag, {AUTO_ATTACK} or "
                                          f"{HOLY_POWER_SPENT})")
        p["proc_trigger"][j] = _mask(triggers, trigger_columns)
        p["proc_on_crit"][j] = reader.flag(entry, "on_crit", False, "proc", i)
        p["proc_chance"][j] = reader.number(entry, "chance", 1.0, "proc", i, high=1)
        p["proc_bonus_on_crit"][j] = reader.number(entry, "chance_bonus_on_crit", 0.0, "proc", i, high=1)
        p["proc_chance_per_mastery"][j] = reader.number(entry, "chance_per_mastery_point", 0.0, "proc", i, high=1)
        requires = reader.names(entry, "requires_buffs", buff_names, "proc", i, "buff")
        p["proc_requires"][j] = _mask(requires, buff_names)
        p["proc_has_requirement"][j] = bool(requires)
        p["proc_unless"][j] = _mask(reader.names(entry, "unless_buffs", buff_names, "proc", i, "buff"), buff_names)
        p["proc_grants_buff"][j] = _mask(reader.names(entry, "grants_buff", buff_names, "proc", i, "buff"), buff_names)
        p["proc_stacks"][j] = int(reader.number(entry, "stacks", 1, "proc", i, low=1, high=100))
        p["proc_refresh"][j] = reader.flag(entry, "refresh", True, "proc", i)
        p["proc_consumes_buff"][j] = _mask(reader.names(entry, "consumes_buff", buff_names, "proc", i, "buff"),
                                           buff_names)
        p["proc_consumes_stacks"][j] = reader.flag(entry, "consumes_stacks", False, "proc", i)
        p["proc_resets"][j] = _mask(reader.names(entry, "resets_cooldown", ability_names, "proc", i, "ability"),
                                    ability_names)
        for name, seconds in reader.table(entry, "reduces_cooldown", ability_names, "proc", i, "ability",
                                          low=0, high=3600).items():
            p["proc_reduces"][j, ability_names.index(name)] = seconds
        p["proc_reduces_hasted"][j] = reader.flag(entry, "reduces_hasted", False, "proc", i)
        p["proc_gain"][j] = reader.amounts(entry, "gain", "proc", i)
        for name, count in reader.table(entry, "deals", spell_names, "proc", i, "spell", low=0, high=20).items():
            p["proc_deals"][j, spell_names.index(name)] = count
        p["proc_applies_debuff"][j] = _mask(
            reader.names(entry, "applies_debuff", debuff_names, "proc", i, "debuff"), debuff_names)
        for name, seconds in reader.table(entry, "extends_buff", buff_names, "proc", i, "buff",
                                          low=0, high=600).items():
            p["proc_extends"][j, buff_names.index(name)] = seconds

    r = dict(resource_max=f32(R), resource_initial=f32(R), resource_regen=f32(R))
    for i, entry in enumerate(reader.resources):
        r["resource_max"][i] = reader.number(entry, "max", 1, "resource", i, low=1)
        r["resource_initial"][i] = reader.number(entry, "initial", 0, "resource", i, high=r["resource_max"][i])
        r["resource_regen"][i] = reader.number(entry, "regen_per_second", 0, "resource", i)

    major = settings.get("major_cooldowns", [])
    for name in major:
        if name not in ability_names:
            raise InputError(f"[spec] major_cooldowns: unknown ability '{name}'{closest(name, ability_names)}",
                             path, line_of(text, "major_cooldowns"))
        t["major_cooldown"][ability_names.index(name)] = True
    for key in ("simple_priority", "simple_priority_aoe"):
        for name in settings.get(key, []):
            if name not in ability_names:
                raise InputError(f"[spec] {key}: unknown ability '{name}'{closest(name, ability_names)}",
                                 path, line_of(text, key))

    # Everything the engine reads about the ability being used, one row per ability, so that
    # a single one-hot masked sum fetches it: see engine.ability_row.
    row_fields = {
        "gcd": t["gcd"], "gcd_hasted": t["gcd_hasted"], "cast_time": t["cast_time"],
        "coefficient": t["coefficient"], "uses_spell_power": t["uses_spell_power"],
        "target_mode": t["target_mode"], "max_targets": t["max_targets"], "aoe_soft_cap": t["aoe_soft_cap"],
        "secondary_multiplier": t["secondary_multiplier"], "cost": t["cost"], "gain": t["gain"],
        "gain_per_target": t["gain_per_target"], "applies_buff": t["applies_buff"],
        **({"weapon_coefficient": t["weapon_coefficient"], "base_damage": t["base_damage"]}
           if (t["weapon_coefficient"].any() or t["base_damage"].any()) else {}),  # older kits only
        "applies_debuff": t["applies_debuff"], "debuff_effectiveness": t["debuff_effectiveness"],
        "makes_free": b["buff_makes_free"].T, "buff_consumed_by": b["buff_consumed_by"].T,
        "debuff_consumed_by": d["debuff_consumed_by"][:, :A].T, "debuff_affects": d["debuff_affects"][:, :A].T,
        "crit_bonus": t["source_crit_bonus"][:A], "crit_damage_bonus": t["source_crit_damage_bonus"][:A],
    }
    layout, columns, start = {}, [], 0
    for key, value in row_fields.items():
        value = np.asarray(value, np.float32).reshape(A, -1)
        layout[key] = (start, start + value.shape[1])
        columns.append(value)
        start += value.shape[1]
    ability_rows = np.concatenate(columns, axis=1)

    # A swing is AP / k + weapon dps per second of weapon speed; the weapon itself may be in
    # attack power already (Midnight: dps x 6, k = 6) or not (MoP: k = 14).
    weapon_in_ap = float(settings.get("weapon_power_coefficient", 6.0))
    ap_per_weapon_dps = float(settings.get("attack_power_per_weapon_dps", weapon_in_ap or 6.0))
    if not 0.0 <= weapon_in_ap <= ap_per_weapon_dps:
        raise InputError("[spec] weapon_power_coefficient must be between 0 and attack_power_per_weapon_dps",
                         path, line_of(text, "weapon_power_coefficient"))
    primary_to_ap = float(settings.get("primary_stat_multiplier", 1.0)) * float(
        settings.get("attack_power_per_primary", 1.0))
    tables = SpecTables(
        **{k: jnp.asarray(v) for k, v in {**t, **s, **b, **d, **p, **r}.items()},
        ability_rows=jnp.asarray(ability_rows),
        auto_attack_multiplier=jnp.float32(t["source_multiplier"][auto_index]),
        auto_attack_spell=jnp.asarray(auto_spell),
        auto_attack_speed=jnp.float32(auto.get("speed_multiplier", 1.0)),
        auto_attack_gain=jnp.asarray(auto_gain),
        auto_attack_gain_every=jnp.int32(auto.get("gain_every", 1)),
        crit_damage_multiplier=jnp.float32(settings.get("crit_damage_multiplier", 2.0)),
        gcd_floor=jnp.float32(settings.get("gcd_floor", 0.75)),
        mastery_per_point=jnp.float32(settings.get("mastery_per_point", 0.0)),
        primary_to_attack_power=jnp.float32(primary_to_ap),
        spell_power_per_attack_power=jnp.float32(settings.get("spell_power_per_attack_power", 1.0)),
        attack_power_per_weapon_dps=jnp.float32(ap_per_weapon_dps),
        weapon_dps_outside_attack_power=jnp.float32(1.0 - weapon_in_ap / ap_per_weapon_dps),
        normalized_weapon_speed=jnp.float32(auto.get("normalized_speed", 3.3)),
        rating_per_percent=jnp.asarray([float(settings.get("rating_per_percent", {}).get(k, 1.0))
                                        for k in ("crit", "haste", "mastery", "versatility")], jnp.float32),
    )
    hooks = SpecHooks()
    if "hooks" in settings:
        try:
            module = importlib.import_module(settings["hooks"])
        except ImportError as error:
            raise InputError(f"[spec] hooks module '{settings['hooks']}' cannot be imported: {error}",
                             path, line_of(text, "hooks")) from None
        hooks = getattr(module, "HOOKS", SpecHooks())
    settings["auto_attack"] = dict(auto)
    return Spec(
        name=settings["name"], class_name=settings["class"], spec_name=settings["spec"],
        ability_names=tuple(ability_names), ability_labels=tuple(labels),
        ability_spell_ids=tuple(spell_ids), spell_names=tuple(spell_names), spell_labels=tuple(spell_labels),
        buff_names=tuple(buff_names), debuff_names=tuple(debuff_names), debuff_labels=tuple(debuff_labels),
        proc_names=tuple(e["name"] for _, e in procs),
        resource_names=tuple(reader.resource_names), tables=tables, hooks=hooks,
        settings=settings, has_cast_times=bool((t["cast_time"] > 0).any()), path=path,
        ability_layout=layout, one_charge_per_step=_one_charge_per_step(t),
        buff_spell_ids=tuple(int(reader.number(e, "spell_id", 0, "buff", i)) for i, e in enumerate(reader.buffs)),
        debuff_spell_ids=tuple(int(reader.number(e, "spell_id", 0, "debuff", i))
                               for i, e in enumerate(reader.debuffs)),
        resource_power_types=tuple(int(reader.number(e, "power_type", -1, "resource", i, low=-1, high=100))
                                   for i, e in enumerate(reader.resources)),
        target_slots=_target_slots(settings, text, path),
        talents=talents, ability_enabled=tuple(bool(x) for x in t["enabled"]), ability_items=tuple(items),
    )


def _read_source(reader: _SpecReader, entry: dict, kind: str, index: int, t: dict, source: int,
                 default_school: str) -> None:
    """The damage-source fields every damaging entry shares."""
    school = reader.choice(entry, "school", default_school, SCHOOLS, kind, index)
    t["source_physical"][source] = school == "physical"
    t["source_multiplier"][source] = reader.number(entry, "damage_multiplier", 1.0, kind, index)
    t["source_mastery"][source] = reader.flag(entry, "mastery", False, kind, index)
    t["source_mastery_scale"][source] = reader.number(entry, "mastery_scale", 1.0, kind, index, high=10)
    if kind != "debuff":
        t["source_crit_bonus"][source] = reader.number(entry, "crit_bonus", 0.0, kind, index, high=1)
        t["source_crit_damage_bonus"][source] = reader.number(entry, "crit_damage_bonus", 0.0, kind, index, high=10)


def _target_slots(settings: dict, text: str, path: str) -> int:
    value = settings.get("target_slots", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise InputError(f"[spec] target_slots must be a whole number 1..16, got {value!r}", path,
                         line_of(text, "target_slots"))
    return value


# Haste bound for the static fast-path check below: 200 % haste (a speed factor of 3),
# far above what gear and buffs give.
MAX_SPEED_FACTOR = 3.0


def _one_charge_per_step(t: dict) -> bool:
    """True when the shortest cooldown, at 200 % haste, outlasts the longest step of play
    (GCD, cast or wait): then one step can bring back at most one charge."""
    cooldowns = t["cooldown"][t["cooldown"] > 0]
    if cooldowns.size == 0:
        return True
    longest_step = max(float(t["gcd"].max()), float(t["cast_time"].max()), WAIT_MAX)
    return float(cooldowns.min()) / MAX_SPEED_FACTOR > longest_step


def available_specs() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.toml"))


def spec_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SPEC_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise InputError(f"unknown spec '{name_or_path}'{closest(name_or_path, available_specs())}; "
                             f"known specs: {', '.join(available_specs())}")
    return path


@functools.lru_cache(maxsize=64)
def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("cannot read spec: not UTF-8 text", path) from None
    except OSError as error:
        raise InputError(f"cannot read spec: {error.strerror}", path) from None


_CACHE: dict[tuple, Spec] = {}


def load_spec(name_or_path: str = "retribution_paladin", talents: Mapping[str, int] | None = None,
              items: Mapping[str, Mapping] | None = None) -> Spec:
    """Load a shipped spec by name (e.g. 'retribution_paladin') or a spec file by path, compiled
    for `talents` (talent or loadout-flag name -> rank; None = the file's default build) and
    on-use `items` by slot (sim.stats.loadout gives both for a character)."""
    path = str(spec_path(name_or_path))
    key = (path, None if talents is None else tuple(sorted((k, int(v)) for k, v in talents.items())),
           tuple(sorted((slot, tuple(sorted((k, str(v)) for k, v in item.items())))
                        for slot, item in (items or {}).items())))
    if key not in _CACHE:
        _CACHE[key] = compile_spec(_read_text(path), path, talents, items)
    return _CACHE[key]
