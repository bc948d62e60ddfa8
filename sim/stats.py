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


def rating_to_percent(rating: float, rating_per_percent: float) -> float:
    """Combat rating -> percent, with diminishing returns above 30 %."""
    raw = rating / rating_per_percent
    percent = 0.0
    for (start, factor), (end, _) in zip(DIMINISHING_RETURNS, DIMINISHING_RETURNS[1:] + ((float("inf"), 0),)):
        if raw <= start:
            break
        percent += (min(raw, end) - start) * factor
    return percent


@functools.lru_cache(maxsize=1)
def item_table() -> dict[str, dict]:
    """The items and consumables file (sim/data/items.toml), keyed by SimC's item name."""
    return tomllib.loads(ITEMS_FILE.read_text(encoding="utf-8"))["item"]


def loadout(spec_settings: Mapping, profile: CharacterProfile) -> tuple[dict[str, int], dict[str, dict], list[str]]:
    """(talents and flags -> rank, on-use items by slot, notes) of a character for its spec.

    Talents come from the profile's `talents=` line: the game's export string, or a list of
    talent names; `default` (or none) is the spec file's default build. Set bonuses, a potion,
    known on-use trinkets and external buffs become loadout flags the spec file tests.
    """
    from portunus.talents import read_talents

    if profile.spec_key != spec_settings["name"]:
        raise InputError(f"profile is a {profile.spec} {profile.class_name}, but the spec is {spec_settings['name']}",
                         profile.source)
    notes: list[str] = []
    text = profile.talents.strip()
    if text in ("", "default"):
        talents = {name: 1 for name in spec_settings.get("default_talents", [])}
    else:
        try:
            chosen = read_talents(text, profile.spec)
        except InputError as error:
            raise InputError(f"talents: {error.message}", profile.source, profile.line_of("talents")) from None
        talents = dict(chosen.talents)
    flags = set(spec_settings.get("loadout_flags", []))
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
    for name in profile.external_buffs:
        if name not in flags:
            raise InputError(f"external_buffs: '{name}' is not an external buff this spec models"
                             f"{closest(name, sorted(flags))}", profile.source, profile.line_of("external_buffs"))
        talents[name] = 1
    return talents, items, notes


def passive_item_stats(profile: CharacterProfile) -> dict[str, float]:
    """Stats from passive trinkets and consumables (flask, food, weapon oil), by STAT_NAMES."""
    totals = dict.fromkeys(STAT_NAMES, 0.0)
    known = item_table()
    names = [item.name for item in profile.items if item.slot in ("trinket1", "trinket2")]
    names += [n for n in profile.consumables.values() if n]
    for name in names:
        data = known.get(name)
        if data is None or data.get("use"):
            continue
        totals[data["stat"]] += float(data["amount"])
        for stat, amount in data.get("extra", {}).items():
            totals[stat] += float(amount)
    return totals


def profile_stats(spec: Spec, profile: CharacterProfile, raid_buffs: bool = True) -> PlayerStats:
    """Turn a parsed profile into stats for `spec` (compiled for this character's talents, which
    may change the stat rules: Seal of Might). Errors if the profile is for another spec."""
    if profile.spec_key != spec.name:
        raise InputError(
            f"profile is a {profile.spec} {profile.class_name}, but the spec is {spec.name}", profile.source)
    s = spec.settings
    per = s["rating_per_percent"]
    extra = passive_item_stats(profile)
    gear = profile.gear
    primary_multiplier = s.get("primary_stat_multiplier", 1.0) * s.get("attack_power_per_primary", 1.0)
    shout = BATTLE_SHOUT if raid_buffs else 1.0
    primary = s.get("base_primary_stat", 0.0) + gear.get(s["primary_stat"], 0.0) + extra["primary"]
    weapon_dps = profile.weapon_dps if profile.weapon_dps is not None else s["auto_attack"].get("weapon_dps", 0.0)
    weapon_speed = profile.weapon_speed if profile.weapon_speed is not None else s["auto_attack"].get(
        "weapon_speed", 3.6)
    attack_power = (primary * primary_multiplier + weapon_dps * s.get("weapon_power_coefficient", 6.0)) * shout

    def percent(stat: str) -> float:
        return rating_to_percent(gear.get(f"{stat}_rating", 0.0) + extra[stat], per[stat])

    values = dict(
        attack_power=attack_power,
        spell_power=attack_power * s.get("spell_power_per_attack_power", 1.0),
        crit=s.get("base_crit", 0.05) + percent("crit") / 100,
        haste=percent("haste") / 100,
        mastery_points=s.get("mastery_base_points", 0.0) + percent("mastery")
        + (SKYFURY_MASTERY_POINTS if raid_buffs else 0.0),
        versatility=percent("versatility") / 100 + (MARK_OF_THE_WILD if raid_buffs else 0.0),
        weapon_dps=weapon_dps, weapon_speed=weapon_speed,
        strikes_per_swing=1.0 + (SKYFURY_REPEAT_CHANCE if raid_buffs else 0.0),
        primary_to_attack_power=primary_multiplier * shout,
    )
    for name, value in values.items():
        if not math.isfinite(value):
            raise InputError(f"the character's {name.replace('_', ' ')} is not a finite number ({value}): "
                             f"check the profile's gear lines", profile.source)
    return PlayerStats(**{name: jnp.float32(value) for name, value in values.items()})
