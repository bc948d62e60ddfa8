"""Character profile -> the simulator's stats (fractions, points, damage)."""

from __future__ import annotations

import jax.numpy as jnp

from portunus.errors import InputError
from portunus.profile import CharacterProfile
from sim.spec import Spec
from sim.types import PlayerStats

# Secondary-stat diminishing returns: (percent from rating where the bracket
# starts, fraction of rating that still counts). The Dragonflight/TWW brackets,
# assumed unchanged in Midnight: estimate.
DIMINISHING_RETURNS = ((0.0, 1.0), (30.0, 0.9), (39.0, 0.8), (47.0, 0.7), (54.0, 0.6), (66.0, 0.5))


def rating_to_percent(rating: float, rating_per_percent: float) -> float:
    """Combat rating -> percent, with diminishing returns above 30 %."""
    raw = rating / rating_per_percent
    percent = 0.0
    for (start, factor), (end, _) in zip(DIMINISHING_RETURNS, DIMINISHING_RETURNS[1:] + ((float("inf"), 0),)):
        if raw <= start:
            break
        percent += (min(raw, end) - start) * factor
    return percent


def profile_stats(spec: Spec, profile: CharacterProfile) -> PlayerStats:
    """Turn a parsed profile into stats for `spec`. Errors if the profile is for another spec."""
    if profile.spec_key != spec.name:
        raise InputError(
            f"profile is a {profile.spec} {profile.class_name}, but the spec is {spec.name}", profile.source)
    s = spec.settings
    per = s["rating_per_percent"]
    primary = (s.get("base_primary_stat", 0.0) + profile.gear.get(s["primary_stat"], 0.0)) \
        * s.get("primary_stat_multiplier", 1.0)
    attack_power = primary * s.get("attack_power_per_primary", 1.0)
    auto = s.get("auto_attack", {})
    return PlayerStats(
        attack_power=jnp.float32(attack_power),
        spell_power=jnp.float32(attack_power * s.get("spell_power_per_attack_power", 1.0)),
        crit=jnp.float32(s.get("base_crit", 0.05) + rating_to_percent(profile.gear.get("crit_rating", 0.0), per["crit"]) / 100),
        haste=jnp.float32(rating_to_percent(profile.gear.get("haste_rating", 0.0), per["haste"]) / 100),
        mastery_points=jnp.float32(
            s.get("mastery_base_points", 0.0) + rating_to_percent(profile.gear.get("mastery_rating", 0.0), per["mastery"])),
        versatility=jnp.float32(rating_to_percent(profile.gear.get("versatility_rating", 0.0), per["versatility"]) / 100),
        weapon_dps=jnp.float32(profile.weapon_dps if profile.weapon_dps is not None else auto.get("weapon_dps", 0.0)),
        weapon_speed=jnp.float32(profile.weapon_speed if profile.weapon_speed is not None else auto.get("weapon_speed", 3.6)),
    )
