"""The fights and characters self-play draws from, named as in the training config.

Fight names: "patchwerk" or "patchwerk:SECONDS", "aoe" or "aoe:TARGETS",
"route:NAME_OR_FILE" (a shipped route or a route TOML file), optionally followed by
",bloodlust=SECONDS" (Bloodlust at that time) or ",bloodlust=none", and fights that end
when enemies die by ",own_damage=WEIGHT" (the player's own damage counts beside the clear
time: `sim.Fight.own_damage_weight`). Every fight is
padded to the config's enemy slots so one network reads them all. Profiles:
"default" (the shipped character) or a SimC profile file.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

import sim
from portunus.errors import InputError
from portunus.profile import load_profile
from sim.env import Env
from sim.types import OBJECTIVE_CLEAR_TIME, PlayerStats

FIGHT_KINDS = ("patchwerk", "aoe", "route")


FIGHT_OPTIONS = "bloodlust=SECONDS|none, own_damage=WEIGHT"
MAX_OWN_DAMAGE_WEIGHT = 10.0


def parse_fight(name: str, slots: int) -> sim.Fight:
    head, *options = name.split(",")
    kind, _, argument = head.partition(":")
    if kind not in FIGHT_KINDS:
        raise InputError(f"fights: unknown fight '{name}'; use patchwerk[:SECONDS], aoe[:TARGETS] "
                         f"or route:NAME_OR_FILE, optionally with ,{FIGHT_OPTIONS}")
    settings = _fight_options(name, options)
    try:
        if kind == "patchwerk":
            fight = sim.patchwerk(duration=float(argument)) if argument else sim.patchwerk()
        elif kind == "aoe":
            fight = sim.aoe(targets=int(argument)) if argument else sim.aoe()
        else:
            if not argument:
                raise InputError("fights: 'route' needs a route name or file, e.g. route:sample_keystone")
            fight = sim.load_route(argument)
    except ValueError as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"fights: bad number in '{name}'") from None
    if "bloodlust" in settings:
        fight = dataclasses.replace(fight, bloodlust_at=settings["bloodlust"],
                                    pull_bloodlust=(False,) * fight.num_pulls if fight.pull_bloodlust else ())
    if "own_damage" in settings:
        fight = weigh_own_damage(fight, settings["own_damage"], f"fights: own_damage in '{name}'")
    return fight.with_slots(slots)


def weigh_own_damage(fight: sim.Fight, weight: float, where: str) -> sim.Fight:
    """`fight` scored by its clear time and the player's own damage x `weight` (a route's
    meter beside its timer); only fights that end when their enemies die have a clear."""
    if fight.objective != OBJECTIVE_CLEAR_TIME:
        raise InputError(f"{where}: the player's own damage weighs in fights that end when their enemies die "
                         f"(aoe, route); '{fight.name}' is scored by damage already")
    return dataclasses.replace(fight, own_damage_weight=weight)


def _fight_options(name: str, options: list[str]) -> dict:
    """A fight name's `,key=value` options: "bloodlust" (seconds, or None for none) and
    "own_damage" (a weight), each only when given."""
    settings: dict = {}
    for option in options:
        key, _, value = (part.strip() for part in option.partition("="))
        if key not in ("bloodlust", "own_damage") or not value:
            raise InputError(f"fights: unknown option '{option}' in '{name}'; the options are {FIGHT_OPTIONS}")
        if key == "bloodlust" and value == "none":
            settings[key] = None
            continue
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        high = MAX_OWN_DAMAGE_WEIGHT if key == "own_damage" else math.inf
        if not math.isfinite(number) or not 0 <= number <= high:
            wanted = "seconds >= 0 or 'none'" if key == "bloodlust" else f"a weight 0..{high:g}"
            raise InputError(f"fights: {key} must be {wanted} in '{name}', got {value!r}")
        settings[key] = number
    return settings


def load_profiles(names: tuple[str, ...]):
    return [load_profile(None if name == "default" else name) for name in names]


def make_envs(config) -> list[tuple[str, Env]]:
    """(fight name, env) per configured fight, with the first profile's character; the
    other profiles' stats are mixed in per environment by `stats_table`."""
    profile = load_profiles(config.profiles)[0]
    return [(name, sim.make(config.spec, profile, parse_fight(name, config.slots)))
            for name in config.fights]


def stats_table(config, env: Env) -> PlayerStats:
    """Stats of every configured profile, stacked on a leading axis."""
    stats = [sim.profile_stats(env.spec, profile) for profile in load_profiles(config.profiles)]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *stats)


def stats_for_envs(table: PlayerStats, count: int) -> PlayerStats:
    """Environment i plays profile i mod P."""
    profiles = jax.tree.leaves(table)[0].shape[0]
    index = jnp.arange(count) % profiles
    return jax.tree.map(lambda leaf: leaf[index], table)
