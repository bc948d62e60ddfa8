"""Measure a spec's `steady_rate_by_targets`: the default APL's DPS against 1..8 enemies that
do not die, as multiples of the spec's nominal DPS.

Search prices the player's share of each enemy pack left on a route scored by own damage
with it (search/evaluator.py): the player's rate for that many enemies against the group's
on each. Prints the TOML line for the spec file.

    python scripts/steady_rate_by_targets.py                      # the shipped Templar, 8 episodes
    python scripts/steady_rate_by_targets.py --profile retribution_paladin_herald --episodes 16
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import sim
from portunus.errors import InputError
from portunus.profile import load_profile
from sim.apl import load_apl
from sim.fights import FIXED_TIME_HEALTH
from sim.rollout import init_batch, play_policy


def rate_by_targets(profile, episodes: int, duration: float, seed: int) -> list[float]:
    base = sim.patchwerk(duration=duration, bloodlust_at=None)
    rates = []
    for enemies in range(1, 9):
        health = np.zeros((1, 8), np.float32)
        health[0, :enemies] = FIXED_TIME_HEALTH
        env = sim.make(profile=profile, fight=dataclasses.replace(base, name=f"{enemies} enemies", pull_health=health))
        apl = load_apl(env)
        play = jax.jit(lambda states: play_policy(env, apl, states, 400))
        states = play(init_batch(env, jax.random.key(seed + enemies), episodes))
        while not bool(jnp.all(states.terminated)):
            states = play(states)
        dps = np.asarray(states.damage_done / states.time)
        rates.append(float(dps.mean() / env.nominal_dps))
        print(f"{enemies} enemies: {dps.mean():,.0f} DPS (sd {dps.std():,.0f}), {rates[-1]:.2f} x nominal", flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help="SimC profile or shipped character (default: the Templar)")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    if not 1 <= args.episodes <= 4096:
        parser.error(f"--episodes must be a whole number from 1 to 4,096, got {args.episodes}")
    if not 1.0 <= args.duration <= 3600.0:   # also refuses nan
        parser.error(f"--duration must be a number of seconds from 1 to 3,600, got {args.duration}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be a whole number from 0 to 2^32-1, got {args.seed}")
    try:
        profile = load_profile(args.profile)
    except InputError as error:
        parser.error(str(error))
    rates = rate_by_targets(profile, args.episodes, args.duration, args.seed)
    print("steady_rate_by_targets = [" + ", ".join(f"{rate:.2f}" for rate in rates) + "]")


if __name__ == "__main__":
    main()
