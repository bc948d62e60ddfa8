"""Specs as data: a TOML file of abilities, buffs, debuffs and procs, plus hooks.

`load_spec` reads `sim/specs/<name>.toml`, checks every name it references,
and compiles the tables the engine reads (`SpecTables`). A spec's special
rules live in a hooks module named by the file (`[spec] hooks = ...`); the
engine itself never names an ability. The format is in docs/spec-format.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import tomllib
from pathlib import Path
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from portunus.errors import InputError, closest, line_of
from sim.types import TARGET_ALL, TARGET_NONE, TARGET_PRIMARY, TARGET_UP_TO, WAIT_MAX, SpecTables

SPEC_DIR = Path(__file__).parent / "specs"
TARGET_MODES = {"none": TARGET_NONE, "primary": TARGET_PRIMARY, "all": TARGET_ALL, "up_to": TARGET_UP_TO}
SCHOOLS = ("physical", "holy", "fire", "frost", "nature", "shadow", "arcane")
AUTO_ATTACK = "auto_attack"

ABILITY_KEYS = {
    "name", "label", "spell_id", "gcd", "gcd_hasted", "cast_time", "cooldown", "cooldown_hasted",
    "charges", "cost", "gain", "gain_per_target", "coefficient", "scales_with", "school",
    "damage_multiplier", "mastery", "targets", "max_targets", "aoe_soft_cap",
    "usable_below_health", "usable_with_buffs", "applies_buffs", "applies_debuffs", "tags",
    "major_cooldown",
}
BUFF_KEYS = {
    "name", "spell_id", "duration", "max_stacks", "damage_multiplier", "affects", "crit_bonus",
    "haste_bonus", "makes_free", "consumed_by", "resets_cooldown_on_gain",
}
DEBUFF_KEYS = {
    "name", "spell_id", "duration", "damage_taken_multiplier", "affects", "consumed_by",
    "tick_period", "tick_hasted", "tick_coefficient", "scales_with", "school", "mastery",
    "rolling", "expire_coefficient", "accumulate_fraction",
}
PROC_KEYS = {"name", "spell_id", "trigger", "chance", "chance_bonus_on_crit", "grants_buff", "resets_cooldown"}


@dataclasses.dataclass(frozen=True)
class SpecHooks:
    """The few spec rules that are code, not data. All are pure JAX functions.

    mastery_multiplier(stats, tables) -> f32[S]: damage multiplier per source.
    legal_mask(state, tables, mask) -> bool[A + 1]: extra legality rules.
    """

    mastery_multiplier: Callable[..., Any] | None = None
    legal_mask: Callable[..., Any] | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Spec:
    """A compiled spec: names for people, tables for the engine."""

    name: str
    class_name: str
    spec_name: str
    ability_names: tuple[str, ...]
    ability_labels: tuple[str, ...]
    ability_spell_ids: tuple[int, ...]
    buff_names: tuple[str, ...]
    debuff_names: tuple[str, ...]
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

    @property
    def wow_spec_id(self) -> int:
        """The game's specialization id (GetSpecializationInfo), 0 when the spec file has none."""
        return int(self.settings.get("wow_spec_id", 0))

    @property
    def num_abilities(self) -> int:
        return len(self.ability_names)

    @property
    def num_actions(self) -> int:
        """Abilities plus the wait action, which is the last index."""
        return len(self.ability_names) + 1

    @property
    def wait_action(self) -> int:
        return len(self.ability_names)

    @property
    def action_names(self) -> tuple[str, ...]:
        return self.ability_names + ("wait",)

    @property
    def source_names(self) -> tuple[str, ...]:
        """Damage sources: abilities, the auto attack, then debuffs (periodic or expiring)."""
        return self.ability_names + (AUTO_ATTACK,) + tuple(f"{d}_debuff" for d in self.debuff_names)

    def action_index(self, name: str) -> int:
        if name not in self.action_names:
            raise InputError(f"unknown action '{name}' for {self.name}{closest(name, list(self.action_names))}")
        return self.action_names.index(name)


class _SpecReader:
    """Turns parsed TOML into arrays, with errors that name the entry and its line."""

    def __init__(self, data: dict, text: str, path: str):
        self.data, self.text, self.path = data, text, path
        self.abilities = data.get("ability", [])
        self.buffs = data.get("buff", [])
        self.debuffs = data.get("debuff", [])
        self.procs = data.get("proc", [])
        self.resources = data.get("resource", [])
        self.ability_names = [self._name(e, "ability", i) for i, e in enumerate(self.abilities)]
        self.buff_names = [self._name(e, "buff", i) for i, e in enumerate(self.buffs)]
        self.debuff_names = [self._name(e, "debuff", i) for i, e in enumerate(self.debuffs)]
        self.resource_names = [self._name(e, "resource", i) for i, e in enumerate(self.resources)]
        self.tags: dict[str, set[str]] = {}
        for entry in self.abilities:
            for tag in entry.get("tags", []):
                self.tags.setdefault(tag, set()).add(entry["name"])
        for kind, names in (("ability", self.ability_names), ("buff", self.buff_names),
                            ("debuff", self.debuff_names), ("resource", self.resource_names)):
            duplicates = {n for n in names if names.count(n) > 1}
            if duplicates:
                raise InputError(f"duplicate {kind} name '{sorted(duplicates)[0]}'", path,
                                 line_of(text, f'name = "{sorted(duplicates)[0]}"', 1))

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
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(kind, index, f"'{key}' must be a number, got {value!r}")
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
                resolved.update(self.tags[name])
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
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
                raise self.error(kind, index, f"'{key}.{name}' must be a number >= 0")
            out[self.resource_names.index(name)] = amount
        return out


def _mask(names: set[str], order: list[str] | tuple[str, ...]) -> np.ndarray:
    return np.array([n in names for n in order], bool)


def compile_spec(text: str, path: str = "<spec>") -> Spec:
    """Compile spec TOML text. Raises InputError naming the entry and line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"not valid TOML: {error}", path) from None
    if "spec" not in data or not isinstance(data["spec"], dict):
        raise InputError("missing the [spec] table", path, 1)
    reader = _SpecReader(data, text, path)
    settings = dict(data["spec"])
    for required in ("name", "class", "spec"):
        if required not in settings:
            raise InputError(f"[spec] needs '{required}'", path, line_of(text, "[spec]"))
    if not reader.abilities:
        raise InputError("a spec needs at least one [[ability]]", path)

    ability_names, buff_names, debuff_names = reader.ability_names, reader.buff_names, reader.debuff_names
    source_names = ability_names + [AUTO_ATTACK] + [f"{d}_debuff" for d in debuff_names]
    A, B, D, R, S = len(ability_names), len(buff_names), len(debuff_names), len(reader.resource_names), len(source_names)
    P = len(reader.procs)

    f32 = lambda n: np.zeros(n, np.float32)  # noqa: E731
    t = dict(
        gcd=f32(A), gcd_hasted=np.zeros(A, bool), cast_time=f32(A), cooldown=f32(A),
        cooldown_hasted=np.zeros(A, bool), max_charges=np.ones(A, np.int32),
        cost=np.zeros((A, R), np.float32), gain=np.zeros((A, R), np.float32),
        gain_per_target=np.zeros((A, R), np.float32), coefficient=f32(A),
        uses_spell_power=np.zeros(A, bool), target_mode=np.zeros(A, np.int32),
        max_targets=np.zeros(A, np.int32), aoe_soft_cap=np.zeros(A, np.int32),
        usable_below_health=f32(A), usable_with_buffs=np.zeros((A, B), bool),
        has_usable_condition=np.zeros(A, bool), applies_buff=np.zeros((A, B), bool),
        applies_debuff=np.zeros((A, D), bool), major_cooldown=np.zeros(A, bool),
        source_multiplier=np.ones(S, np.float32), source_physical=np.zeros(S, bool),
        source_mastery=np.zeros(S, bool),
    )
    labels, spell_ids = [], []
    for i, entry in enumerate(reader.abilities):
        reader.check_keys(entry, ABILITY_KEYS, "ability", i)
        labels.append(str(entry.get("label", entry["name"].replace("_", " ").title())))
        spell_ids.append(int(reader.number(entry, "spell_id", 0, "ability", i)))
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
        scales = reader.choice(entry, "scales_with", "attack_power", ("attack_power", "spell_power"), "ability", i)
        t["uses_spell_power"][i] = scales == "spell_power"
        school = reader.choice(entry, "school", "physical", SCHOOLS, "ability", i)
        t["source_physical"][i] = school == "physical"
        t["source_multiplier"][i] = reader.number(entry, "damage_multiplier", 1.0, "ability", i)
        t["source_mastery"][i] = reader.flag(entry, "mastery", False, "ability", i)
        mode = reader.choice(entry, "targets", "primary", tuple(TARGET_MODES), "ability", i)
        t["target_mode"][i] = TARGET_MODES[mode]
        if mode == "up_to" and "max_targets" not in entry:
            raise reader.error("ability", i, "targets = 'up_to' needs 'max_targets'")
        t["max_targets"][i] = int(reader.number(entry, "max_targets", 0, "ability", i, high=100))
        t["aoe_soft_cap"][i] = int(reader.number(entry, "aoe_soft_cap", 0, "ability", i, high=100))
        t["usable_below_health"][i] = reader.number(entry, "usable_below_health", 0.0, "ability", i, high=1)
        usable_buffs = reader.names(entry, "usable_with_buffs", buff_names, "ability", i, "buff")
        t["usable_with_buffs"][i] = _mask(usable_buffs, buff_names)
        t["has_usable_condition"][i] = bool(usable_buffs) or t["usable_below_health"][i] > 0
        t["applies_buff"][i] = _mask(reader.names(entry, "applies_buffs", buff_names, "ability", i, "buff"), buff_names)
        t["applies_debuff"][i] = _mask(
            reader.names(entry, "applies_debuffs", debuff_names, "ability", i, "debuff"), debuff_names)
        t["major_cooldown"][i] = reader.flag(entry, "major_cooldown", False, "ability", i)
        if t["applies_debuff"][i].any() and mode == "none":
            raise reader.error("ability", i, "applies a debuff but has targets = 'none'")

    auto = data.get("auto_attack", {})
    auto_index = A
    t["source_multiplier"][auto_index] = 0.0
    if auto:
        t["source_multiplier"][auto_index] = float(auto.get("damage_multiplier", 1.0))
        t["source_physical"][auto_index] = auto.get("school", "physical") == "physical"
        t["source_mastery"][auto_index] = bool(auto.get("mastery", False))

    b = dict(
        buff_duration=f32(B), buff_max_stacks=np.ones(B, np.int32), buff_damage_multiplier=np.ones(B, np.float32),
        buff_affects=np.zeros((B, S), bool), buff_crit_bonus=f32(B), buff_haste_bonus=f32(B),
        buff_makes_free=np.zeros((B, A), bool), buff_consumed_by=np.zeros((B, A), bool),
        buff_resets_on_gain=np.zeros((B, A), bool),
    )
    for i, entry in enumerate(reader.buffs):
        reader.check_keys(entry, BUFF_KEYS, "buff", i)
        b["buff_duration"][i] = reader.number(entry, "duration", 0.0, "buff", i, low=0.001, high=3600)
        b["buff_max_stacks"][i] = int(reader.number(entry, "max_stacks", 1, "buff", i, low=1, high=100))
        b["buff_damage_multiplier"][i] = reader.number(entry, "damage_multiplier", 1.0, "buff", i)
        sources = reader.names(entry, "affects", source_names, "buff", i, "ability or source", allow_tags=True)
        b["buff_affects"][i] = _mask(sources, source_names)
        b["buff_crit_bonus"][i] = reader.number(entry, "crit_bonus", 0.0, "buff", i, high=1)
        b["buff_haste_bonus"][i] = reader.number(entry, "haste_bonus", 0.0, "buff", i, high=10)
        b["buff_makes_free"][i] = _mask(
            reader.names(entry, "makes_free", ability_names, "buff", i, "ability", allow_tags=True), ability_names)
        b["buff_consumed_by"][i] = _mask(
            reader.names(entry, "consumed_by", ability_names, "buff", i, "ability", allow_tags=True), ability_names)
        b["buff_resets_on_gain"][i] = _mask(
            reader.names(entry, "resets_cooldown_on_gain", ability_names, "buff", i, "ability"), ability_names)

    d = dict(
        debuff_duration=f32(D), debuff_taken_multiplier=np.ones(D, np.float32),
        debuff_affects=np.zeros((D, S), bool), debuff_consumed_by=np.zeros((D, A), bool),
        debuff_periodic=np.zeros(D, bool), debuff_tick_period=np.ones(D, np.float32),
        debuff_tick_hasted=np.zeros(D, bool), debuff_tick_coefficient=f32(D),
        debuff_rolling=np.zeros(D, bool), debuff_expire_coefficient=f32(D),
        debuff_accumulate_fraction=f32(D), debuff_uses_spell_power=np.zeros(D, bool),
    )
    for i, entry in enumerate(reader.debuffs):
        reader.check_keys(entry, DEBUFF_KEYS, "debuff", i)
        source = A + 1 + i
        d["debuff_duration"][i] = reader.number(entry, "duration", 0.0, "debuff", i, low=0.001, high=3600)
        d["debuff_taken_multiplier"][i] = reader.number(entry, "damage_taken_multiplier", 1.0, "debuff", i)
        d["debuff_affects"][i] = _mask(
            reader.names(entry, "affects", source_names, "debuff", i, "ability or source", allow_tags=True),
            source_names)
        d["debuff_consumed_by"][i] = _mask(
            reader.names(entry, "consumed_by", ability_names, "debuff", i, "ability", allow_tags=True),
            ability_names)
        d["debuff_periodic"][i] = "tick_coefficient" in entry
        d["debuff_tick_period"][i] = reader.number(entry, "tick_period", 1.0, "debuff", i, low=0.01, high=60)
        d["debuff_tick_hasted"][i] = reader.flag(entry, "tick_hasted", False, "debuff", i)
        d["debuff_tick_coefficient"][i] = reader.number(entry, "tick_coefficient", 0.0, "debuff", i)
        d["debuff_rolling"][i] = reader.flag(entry, "rolling", False, "debuff", i)
        d["debuff_expire_coefficient"][i] = reader.number(entry, "expire_coefficient", 0.0, "debuff", i)
        d["debuff_accumulate_fraction"][i] = reader.number(entry, "accumulate_fraction", 0.0, "debuff", i, high=10)
        scales = reader.choice(entry, "scales_with", "attack_power", ("attack_power", "spell_power"), "debuff", i)
        d["debuff_uses_spell_power"][i] = scales == "spell_power"
        school = reader.choice(entry, "school", "physical", SCHOOLS, "debuff", i)
        t["source_physical"][source] = school == "physical"
        t["source_mastery"][source] = reader.flag(entry, "mastery", False, "debuff", i)

    p = dict(
        proc_trigger=np.zeros((P, A + 1), bool), proc_chance=f32(P), proc_bonus_on_crit=f32(P),
        proc_grants_buff=np.zeros((P, B), bool), proc_resets=np.zeros((P, A), bool),
    )
    for i, entry in enumerate(reader.procs):
        reader.check_keys(entry, PROC_KEYS, "proc", i)
        reader._name(entry, "proc", i)
        triggers = reader.names(entry, "trigger", ability_names, "proc", i, "ability",
                                allow_tags=True, extra=(AUTO_ATTACK,))
        if not triggers:
            raise reader.error("proc", i, "needs a 'trigger' (abilities, a tag or auto_attack)")
        p["proc_trigger"][i] = _mask(triggers, ability_names + [AUTO_ATTACK])
        p["proc_chance"][i] = reader.number(entry, "chance", 0.0, "proc", i, high=1)
        p["proc_bonus_on_crit"][i] = reader.number(entry, "chance_bonus_on_crit", 0.0, "proc", i, high=1)
        p["proc_grants_buff"][i] = _mask(reader.names(entry, "grants_buff", buff_names, "proc", i, "buff"), buff_names)
        p["proc_resets"][i] = _mask(reader.names(entry, "resets_cooldown", ability_names, "proc", i, "ability"),
                                    ability_names)

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

    # Everything the engine reads about the ability being used, one row per ability,
    # so that a single (batched) matrix product fetches it: see engine.ability_row.
    row_fields = {
        "gcd": t["gcd"], "gcd_hasted": t["gcd_hasted"], "cast_time": t["cast_time"],
        "coefficient": t["coefficient"], "uses_spell_power": t["uses_spell_power"],
        "target_mode": t["target_mode"], "max_targets": t["max_targets"], "aoe_soft_cap": t["aoe_soft_cap"],
        "source_multiplier": t["source_multiplier"][:A], "cost": t["cost"], "gain": t["gain"],
        "gain_per_target": t["gain_per_target"], "applies_buff": t["applies_buff"],
        "applies_debuff": t["applies_debuff"], "makes_free": b["buff_makes_free"].T,
        "buff_consumed_by": b["buff_consumed_by"].T, "debuff_consumed_by": d["debuff_consumed_by"].T,
        "debuff_affects": d["debuff_affects"][:, :A].T, "proc_trigger": p["proc_trigger"][:, :A].T,
    }
    layout, columns, start = {}, [], 0
    for key, value in row_fields.items():
        value = np.asarray(value, np.float32).reshape(A, -1)
        layout[key] = (start, start + value.shape[1])
        columns.append(value)
        start += value.shape[1]
    ability_rows = np.concatenate(columns, axis=1)

    tables = SpecTables(
        **{k: jnp.asarray(v) for k, v in {**t, **b, **d, **p, **r}.items()},
        ability_rows=jnp.asarray(ability_rows),
        auto_attack_multiplier=jnp.float32(t["source_multiplier"][auto_index]),
        auto_attack_ap_per_dps=jnp.float32(auto.get("attack_power_per_dps", 6.0)),
        crit_damage_multiplier=jnp.float32(settings.get("crit_damage_multiplier", 2.0)),
        gcd_floor=jnp.float32(settings.get("gcd_floor", 0.75)),
        mastery_per_point=jnp.float32(settings.get("mastery_per_point", 0.0)),
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
        ability_spell_ids=tuple(spell_ids), buff_names=tuple(buff_names),
        debuff_names=tuple(debuff_names), proc_names=tuple(e["name"] for e in reader.procs),
        resource_names=tuple(reader.resource_names), tables=tables, hooks=hooks,
        settings=settings, has_cast_times=bool((t["cast_time"] > 0).any()), path=path,
        ability_layout=layout, one_charge_per_step=_one_charge_per_step(t),
        buff_spell_ids=tuple(int(reader.number(e, "spell_id", 0, "buff", i)) for i, e in enumerate(reader.buffs)),
        debuff_spell_ids=tuple(int(reader.number(e, "spell_id", 0, "debuff", i))
                               for i, e in enumerate(reader.debuffs)),
        resource_power_types=tuple(int(reader.number(e, "power_type", -1, "resource", i, low=-1, high=100))
                                   for i, e in enumerate(reader.resources)),
    )


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


_CACHE: dict[str, Spec] = {}


def load_spec(name_or_path: str = "retribution_paladin") -> Spec:
    """Load a shipped spec by name (e.g. 'retribution_paladin') or a spec file by path."""
    if name_or_path in _CACHE:
        return _CACHE[name_or_path]
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SPEC_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise InputError(f"unknown spec '{name_or_path}'{closest(name_or_path, available_specs())}; "
                             f"known specs: {', '.join(available_specs())}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read spec: {error.strerror}", str(path)) from None
    spec = compile_spec(text, str(path))
    _CACHE[name_or_path] = spec
    return spec
