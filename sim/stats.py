"""Character profile -> what the simulator needs: a loadout (talents, set bonuses, items)
and stats (attack power, fractions, points).

Attack power is SimC's: primary stat x Plate Specialization (and talents such as Seal of
Might), plus the weapon's damage per second x 6, times Battle Shout when raid buffs are on;
spell power is the spec's share of it (96 % for Retribution).
"""

from __future__ import annotations

import functools
import math
import tomllib
from pathlib import Path
from typing import Mapping

import jax.numpy as jnp

from portunus.errors import InputError, closest
from portunus.profile import CharacterProfile
from sim.spec import Spec
from sim.types import PlayerStats

ITEMS_FILE = Path(__file__).parent / "data" / "items.toml"
STAT_NAMES = ("primary", "crit", "haste", "mastery", "versatility")

# Secondary-stat diminishing returns: (percent from rating where the bracket starts, fraction
# of rating that still counts). The Dragonflight/TWW brackets, assumed unchanged in Midnight
# (SimC's Midnight curve points were not found): estimate.
DIMINISHING_RETURNS = ((0.0, 1.0), (30.0, 0.9), (39.0, 0.8), (47.0, 0.7), (54.0, 0.6), (66.0, 0.5))

# SimC's default raid ("optimal_raid=1"): Battle Shout 6673 +5 % attack power, Mark of the Wild
# 1126 +3 % versatility, Skyfury (below); the enemy debuffs (Chaos Brand, Mystic Touch) are the fight's.
BATTLE_SHOUT = 1.05
MARK_OF_THE_WILD = 0.03
# Skyfury 462854 (on in SimC's default raid: sim.cpp `overrides.skyfury = optimal_raid`): +2 mastery
# points (player.cpp composite_mastery adds the buff's value to the points), and a main-hand swing
# strikes again 20 % of the time (unique_gear.cpp generic::skyfury; for Retribution the Crusading
# Strike rolls it once, simc issue #11379). The repeat is counted as 20 % more swings.
SKYFURY_MASTERY_POINTS = 2.0
SKYFURY_REPEAT_CHANCE = 0.2
# What "raid buffs on" gives the character, for a game; a spec file's `[raid_buffs]` table
# replaces it (Mists of Pandaria's raid has other buffs). Rating keys are combat rating.
RETAIL_RAID_BUFFS = {
    "attack_power_multiplier": BATTLE_SHOUT, "primary_multiplier": 1.0,
    "crit": 0.0, "haste_multiplier": 1.0, "mastery_rating": 0.0, "mastery_points": SKYFURY_MASTERY_POINTS,
    "versatility": MARK_OF_THE_WILD, "strikes_per_swing": 1.0 + SKYFURY_REPEAT_CHANCE,
}
NO_RAID_BUFFS = {**{k: 0.0 for k in RETAIL_RAID_BUFFS}, "attack_power_multiplier": 1.0, "primary_multiplier": 1.0,
                 "haste_multiplier": 1.0, "strikes_per_swing": 1.0}


def rating_to_percent(rating: float, rating_per_percent: float, diminishing: bool = True) -> float:
    """Combat rating -> percent, with diminishing returns above 30 % (retail; older games have none)."""
    raw = rating / rating_per_percent
    if not diminishing:
        return raw
    percent = 0.0
    for (start, factor), (end, _) in zip(DIMINISHING_RETURNS, DIMINISHING_RETURNS[1:] + ((float("inf"), 0),)):
        if raw <= start:
            break
        percent += (min(raw, end) - start) * factor
    return percent


@functools.lru_cache(maxsize=1)
def _items_file() -> dict[str, dict]:
    return tomllib.loads(ITEMS_FILE.read_text(encoding="utf-8"))


def item_table() -> dict[str, dict]:
    """The items and consumables file (sim/data/items.toml), keyed by SimC's item name."""
    return _items_file()["item"]


def enchant_table() -> dict[str, dict]:
    """The enchants of sim/data/items.toml, keyed by SimC's enchant id (as text)."""
    return _items_file().get("enchant", {})


def item_enchants(profile: CharacterProfile) -> tuple[list[dict], list[str]]:
    """(the data of each known enchant on the profile's items, notes on the unknown ones)."""
    known, found, notes = enchant_table(), [], []
    for item in profile.items:
        enchant = item.options.get("enchant_id")
        if enchant is None:
            continue
        if not enchant.isdigit():
            raise InputError(f"{item.slot}: enchant_id must be a number, got '{enchant}'", profile.source, item.line)
        if enchant in known:
            found.append(known[enchant])
        else:
            notes.append(f"{item.slot} enchant {enchant} has no data in sim/data/items.toml: not simulated")
    return found, notes


def check_profile_spec(profile: CharacterProfile, spec_name: str) -> None:
    """A character plays only its own game's spec file (`profile.spec_key`)."""
    if profile.spec_key != spec_name:
        raise InputError(f"profile is a {profile.spec} {profile.class_name} (spec file {profile.spec_key}), but the "
                         f"spec is {spec_name}", profile.source)


def loadout(spec_settings: Mapping, profile: CharacterProfile) -> tuple[dict[str, int], dict[str, dict], list[str]]:
    """(talents and flags -> rank, on-use items by slot, notes) of a character for its spec.

    Talents come from the profile's `talents=` line: the game's export string, or a list of
    talent names; `default` (or none) is the spec file's default build. Set bonuses, a potion,
    known on-use trinkets and external buffs become loadout flags the spec file tests.
    """
    from portunus.talents import read_talents

    check_profile_spec(profile, spec_settings["name"])
    notes: list[str] = []
    text = profile.talents.strip()
    if text in ("", "default"):
        talents = {name: 1 for name in spec_settings.get("default_talents", [])}
    elif "talent_tiers" in spec_settings:
        talents = tier_talents(text, spec_settings["talent_tiers"], profile)
    else:
        try:
            chosen = read_talents(text, profile.spec)
        except InputError as error:
            raise InputError(f"talents: {error.message}", profile.source, profile.line_of("talents")) from None
        talents = dict(chosen.talents)
    flags = set(spec_settings.get("loadout_flags", []))
    for glyph in profile.glyphs:
        if f"glyph_{glyph}" in flags:
            talents[f"glyph_{glyph}"] = 1
        else:
            notes.append(f"glyph '{glyph}' is not modelled for this spec: ignored")
    for name in profile.set_bonuses:
        if name not in flags:
            notes.append(f"set bonus '{name}' is not modelled for this spec: ignored")
        talents[name] = 1
    items: dict[str, dict] = {}
    known = item_table()
    if profile.potion:
        if profile.potion in known and known[profile.potion].get("use"):
            talents["potion"] = 1
            items["potion"] = dict(known[profile.potion], name=profile.potion)
        else:
            notes.append(f"potion '{profile.potion}' has no data in sim/data/items.toml: not used")
    for item in profile.items:
        if item.slot not in ("trinket1", "trinket2"):
            continue
        name = item.name
        data = known.get(name)
        if data is None:
            notes.append(f"{item.slot} '{name}' has no data in sim/data/items.toml{closest(name, list(known))}: "
                         f"its effect is not simulated")
        elif data.get("use"):
            talents[item.slot] = 1
            items[item.slot] = dict(data, name=name)
    notes += item_enchants(profile)[1]
    for name in profile.external_buffs:
        if name not in flags:
            raise InputError(f"external_buffs: '{name}' is not an external buff this spec models"
                             f"{closest(name, sorted(flags))}", profile.source, profile.line_of("external_buffs"))
        talents[name] = 1
    return talents, items, notes


def tier_talents(text: str, tiers: list[list[str]], profile: CharacterProfile) -> dict[str, int]:
    """Mists of Pandaria talents: one pick per tier, as digits ('221223': 0 = none, 1-3 the
    column, as SimC and wowsims write them) or as talent names."""
    line = profile.line_of("talents")
    if text.isdigit():
        if len(text) != len(tiers) or any(d not in "0123" for d in text):
            raise InputError(f"talents: '{text}' must be {len(tiers)} digits 0-3, one per tier", profile.source, line)
        return {tiers[i][int(d) - 1]: 1 for i, d in enumerate(text) if d != "0"}
    known = {name: i for i, tier in enumerate(tiers) for name in tier}
    talents: dict[str, int] = {}
    taken: dict[int, str] = {}
    for name in (n.strip().lower().replace(" ", "_").replace("'", "") for n in text.replace("/", ",").split(",")):
        if not name:
            continue
        if name not in known:
            raise InputError(f"talents: unknown talent '{name}'{closest(name, list(known))}", profile.source, line)
        if known[name] in taken:
            raise InputError(f"talents: '{name}' and '{taken[known[name]]}' are in the same tier (one per tier)",
                             profile.source, line)
        taken[known[name]] = name
        talents[name] = 1
    return talents


def passive_item_stats(profile: CharacterProfile) -> dict[str, float]:
    """Stats from passive trinkets, consumables (flask, food, weapon oil) and enchants, by STAT_NAMES."""
    totals = dict.fromkeys(STAT_NAMES, 0.0)
    known = item_table()
    names = [item.name for item in profile.items if item.slot in ("trinket1", "trinket2")]
    names += [n for n in profile.consumables.values() if n]
    passive = [known[name] for name in names if name in known and not known[name].get("use")]
    for data in passive + [e for e in item_enchants(profile)[0] if "stat" in e]:
        totals[data["stat"]] += float(data["amount"])
        for stat, amount in data.get("extra", {}).items():
            totals[stat] += float(amount)
    return totals


def profile_stats(spec: Spec, profile: CharacterProfile, raid_buffs: bool = True) -> PlayerStats:
    """Turn a parsed profile into stats for `spec` (compiled for this character's talents, which
    may change the stat rules: Seal of Might). Errors if the profile is for another spec."""
    check_profile_spec(profile, spec.name)
    s = spec.settings
    per = s["rating_per_percent"]
    extra = passive_item_stats(profile)
    gear = profile.gear
    buffs = {**RETAIL_RAID_BUFFS, **s.get("raid_buffs", {})} if raid_buffs else NO_RAID_BUFFS
    primary_multiplier = (s.get("primary_stat_multiplier", 1.0) * s.get("attack_power_per_primary", 1.0)
                          * buffs["primary_multiplier"])
    shout = buffs["attack_power_multiplier"]
    primary = s.get("base_primary_stat", 0.0) + gear.get(s["primary_stat"], 0.0) + extra["primary"]
    weapon_dps = profile.weapon_dps if profile.weapon_dps is not None else s["auto_attack"].get("weapon_dps", 0.0)
    weapon_speed = profile.weapon_speed if profile.weapon_speed is not None else s["auto_attack"].get(
        "weapon_speed", 3.6)
    attack_power = (primary * primary_multiplier + s.get("base_attack_power", 0.0)
                    + weapon_dps * s.get("weapon_power_coefficient", 6.0)) * shout
    diminishing = bool(s.get("secondary_diminishing_returns", True))

    def percent(stat: str, bonus_rating: float = 0.0) -> float:
        rating = gear.get(f"{stat}_rating", 0.0) + extra[stat] + bonus_rating
        return rating_to_percent(rating, per[stat], diminishing) if stat in per else 0.0

    values = dict(
        attack_power=attack_power,
        spell_power=attack_power * s.get("spell_power_per_attack_power", 1.0),
        crit=s.get("base_crit", 0.05) + percent("crit") / 100 + buffs["crit"],
        # Haste buffs multiply (1 + rating haste) x 1.1; the engine reads 1 + haste.
        haste=(1.0 + percent("haste") / 100) * buffs["haste_multiplier"] - 1.0,
        mastery_points=s.get("mastery_base_points", 0.0) + percent("mastery", buffs["mastery_rating"])
        + buffs["mastery_points"],
        versatility=percent("versatility") / 100 + buffs["versatility"],
        weapon_dps=weapon_dps, weapon_speed=weapon_speed,
        strikes_per_swing=buffs["strikes_per_swing"],
        primary_to_attack_power=primary_multiplier * shout,
        crit_damage_scale=math.prod(1.0 + e.get("crit_damage", 0.0) for e in item_enchants(profile)[0]),
    )
    for name, value in values.items():
        if not math.isfinite(value):
            raise InputError(f"the character's {name.replace('_', ' ')} is not a finite number ({value}): "
                             f"check the profile's gear lines", profile.source)
    return PlayerStats(**{name: jnp.float32(value) for name, value in values.items()})
