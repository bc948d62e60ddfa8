"""The fights and characters self-play draws from, named as in the training config.

Fight names: "patchwerk" or "patchwerk:SECONDS", "aoe" or "aoe:TARGETS",
"route:NAME_OR_FILE" (a shipped route or a route TOML file), optionally followed by
",bloodlust=SECONDS" (Bloodlust at that time) or ",bloodlust=none". Every fight is
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
from sim.types import PlayerStats

FIGHT_KINDS = ("patchwerk", "aoe", "route")


def parse_fight(name: str, slots: int) -> sim.Fight:
    head, *options = name.split(",")
    kind, _, argument = head.partition(":")
    if kind not in FIGHT_KINDS:
        raise InputError(f"fights: unknown fight '{name}'; use patchwerk[:SECONDS], aoe[:TARGETS] "
                         f"or route:NAME_OR_FILE, optionally with ,bloodlust=SECONDS|none")
    bloodlust = _bloodlust_option(name, options)
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
    if bloodlust is not False:
        fight = dataclasses.replace(fight, bloodlust_at=bloodlust,
                                    pull_bloodlust=(False,) * fight.num_pulls if fight.pull_bloodlust else ())
    return fight.with_slots(slots)


def _bloodlust_option(name: str, options: list[str]) -> float | None | bool:
    """The `,bloodlust=` option: seconds, None for none, False when not given."""
    bloodlust: float | None | bool = False
    for option in options:
        key, _, value = option.partition("=")
        if key.strip() != "bloodlust" or not value.strip():
            raise InputError(f"fights: unknown option '{option}' in '{name}'; the one option is "
                             f"bloodlust=SECONDS or bloodlust=none")
        if value.strip() == "none":
            bloodlust = None
            continue
        try:
            bloodlust = float(value)
        except ValueError:
            raise InputError(f"fights: bloodlust must be seconds or 'none' in '{name}'") from None
        if not math.isfinite(bloodlust) or bloodlust < 0:
            raise InputError(f"fights: bloodlust must be seconds >= 0 in '{name}'")
    return bloodlust


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
