"""Where policies differ, not only by how much: each ability's casts and the damage dealt per
window of fight time, averaged over the same episodes the paired evaluation plays.

A paired interval says a policy is 0.8 % behind the APL; the timeline says it casts one Hammer
of Light fewer between 130 and 180 s and moves Divine Toll out of the Bloodlust window.
Counted inside the scan (one-hot adds into fixed [actions, windows] arrays), so a fight of any
length costs one pass and no per-step storage."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from sim._xla import jit
from sim.env import Env
from sim.rollout import step_batch
from sim.types import State


def window_edges(env: Env, windows: int) -> np.ndarray:
    """`windows` equal windows over the fight's time limit, in seconds."""
    return np.linspace(0.0, float(env.fight.time_limit), windows + 1)


def make_timeline(env: Env, choose: Callable, windows: int, chunk: int = 64
                  ) -> Callable[[jax.Array, int], tuple[np.ndarray, np.ndarray]]:
    """(episode keys, search seed) -> (casts [actions, windows], damage [windows]), both summed
    over the episodes. A step's cast and damage count in the window where the step starts."""
    edges = jnp.asarray(window_edges(env, windows), jnp.float32)
    actions_count = len(env.spec.action_names)

    @jit
    def advance(carry, key):
        def body(carry, step_key):
            states, casts, damage = carry
            actions = choose(step_key, states)
            after = step_batch(env, states, actions)
            window = jnp.clip(jnp.searchsorted(edges, states.time, side="right") - 1, 0, windows - 1)
            live = (~states.terminated).astype(jnp.float32)
            casts = casts.at[actions, window].add(live)
            damage = damage.at[window].add(live * (after.damage_done - states.damage_done))
            return (after, casts, damage), None

        carry, _ = jax.lax.scan(body, carry, jax.random.split(key, chunk))
        return carry

    def run(keys: jax.Array, search_seed: int) -> tuple[np.ndarray, np.ndarray]:
        from train.evaluate import play_chunks

        states: State = jax.vmap(env.init)(keys)
        carry = (states, jnp.zeros((actions_count, windows), jnp.float32), jnp.zeros((windows,), jnp.float32))
        _, casts, damage = play_chunks(env, advance, carry, search_seed, chunk, states_of=lambda carry: carry[0])
        return np.asarray(casts, np.float64), np.asarray(damage, np.float64)

    return run


def summarize_timeline(env: Env, per_policy: dict[str, tuple[np.ndarray, np.ndarray]], episodes: int,
                       windows: int) -> dict:
    """Per-episode means, with the abilities no policy cast left out (JSON-ready)."""
    names = env.spec.action_names
    cast_any = np.any(np.stack([casts for casts, _ in per_policy.values()]) > 0, axis=(0, 2))
    return {"window_edges_s": [round(float(edge), 3) for edge in window_edges(env, windows)],
            "episodes": episodes,
            "policies": {label: {"casts": {names[a]: [round(float(c) / episodes, 3) for c in casts[a]]
                                           for a in np.flatnonzero(cast_any)},
                                 "damage": [round(float(d) / episodes, 1) for d in damage]}
                         for label, (casts, damage) in per_policy.items()}}


def largest_differences(timeline: dict, baseline: str, count: int = 8) -> list[tuple[str, dict[str, float]]]:
    """The abilities whose casts per episode differ most from the baseline's (any policy),
    with each policy's total casts per episode."""
    policies = timeline["policies"]
    totals = {label: {name: sum(per_window) for name, per_window in entry["casts"].items()}
              for label, entry in policies.items()}
    base = totals[baseline]
    spread = {name: max(abs(totals[label][name] - base[name]) for label in totals) for name in base}
    ranked = sorted(spread, key=lambda name: -spread[name])[:count]
    return [(name, {label: totals[label][name] for label in totals}) for name in ranked if spread[name] > 0]
