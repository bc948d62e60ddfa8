"""Headroom: how much better than the APL can play be? A slow, wide lookahead policy.

At every decision the lookahead tries each legal action (up to `max_actions` of them),
follows each with the APL to the fight's end under `samples` fresh random keys (the same
keys for every action: common random numbers, so the comparison between actions is
paired), and takes the action with the best mean outcome (damage in fixed-time fights,
clear time in fights that end when enemies die, with the player's own damage where the
fight weighs it). This is Bertsekas' rollout policy over the APL: with exact values it is never worse than the APL, and its gain over the APL is
a lower bound on what any policy can find, measured with the same paired evaluation as
every other policy (`portunus evaluate --headroom`).

The rollouts use fresh keys, never the episode's own key: with it, the lookahead would
see the real episode's future crits and procs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp

from sim.apl import load_apl
from sim.engine import step_reward
from sim.env import Env
from sim.rollout import play_policy, step_batch, where_batch
from sim.types import State

DEFAULT_SAMPLES = 8
DEFAULT_MAX_ACTIONS = 12


def lookahead_policy(env: Env, samples: int = DEFAULT_SAMPLES, max_actions: int = DEFAULT_MAX_ACTIONS,
                     chunk_steps: int = 32, apl_path: Path | None = None, horizon: float | None = None
                     ) -> Callable[[jax.Array, State], jax.Array]:
    """`choose(key, states[E]) -> actions[E]`, jittable (used inside evaluation's scan).
    Candidate actions: the APL's pick first, then the other legal actions in action order,
    at most `max_actions` (the rest are not tried). The rollouts follow the spec's default
    APL, or the APL file `apl_path`, to the fight's end, or with `horizon` for that many
    seconds of fight time, scored by the damage dealt in them (far less noise, but blind to
    what a cooldown held past the horizon is worth)."""
    apl = load_apl(env, apl_path, warn=None)

    def candidates(states: State) -> tuple[jax.Array, jax.Array]:
        first = jax.vmap(apl)(states)                                        # [E]
        legal = states.legal_action_mask                                     # [E, A]
        others = legal & (jnp.arange(env.num_actions)[None, :] != first[:, None])
        # Legal actions first, in action order: a stable sort of "not legal".
        order = jnp.argsort(~others, axis=-1, stable=True)[:, : max_actions - 1]
        actions = jnp.concatenate([first[:, None], order], axis=-1)          # [E, M]
        valid = jnp.concatenate([jnp.ones_like(first[:, None], bool),
                                 jnp.take_along_axis(others, order, axis=-1)], axis=-1)
        return actions, valid

    def play_out(states: State) -> State:
        """States played by the APL until every fight is over, or has run `horizon`
        seconds (a fight that has is frozen there)."""
        stop = None if horizon is None else states.time + horizon

        def finished(states):
            return states.terminated if stop is None else states.terminated | (states.time >= stop)

        def chunk(states):
            if stop is None:
                return play_policy(env, apl, states, chunk_steps)

            def one(states, _):
                stepped = play_policy(env, apl, states, 1)
                done = finished(states)
                return where_batch(done, states, stepped), None
            return jax.lax.scan(one, states, None, length=chunk_steps)[0]

        return jax.lax.while_loop(lambda s: ~jnp.all(finished(s)), chunk, states)

    def choose(key: jax.Array, states: State) -> jax.Array:
        actions, valid = candidates(states)
        episodes, width = actions.shape
        keys = jax.random.split(key, samples)                                # shared by every action
        # [E, M, K] branches, flattened.
        tiled = jax.tree.map(lambda x: jnp.broadcast_to(x[:, None, None], (episodes, width, samples) + x.shape[1:])
                             .reshape((episodes * width * samples,) + x.shape[1:]), states)
        branch_keys = jnp.broadcast_to(keys[None, None, :], (episodes, width, samples)).reshape(-1)
        tiled = tiled.replace(key=branch_keys)
        first = jnp.broadcast_to(actions[:, :, None], (episodes, width, samples)).reshape(-1)
        final = play_out(step_batch(env, tiled, first))
        if horizon is not None:
            outcome = final.damage_done
        else:  # the fight's return as the simulator pays it: the clear, and own damage where weighed
            outcome = step_reward(env.fight_tables, final.time, final.damage_done)
        mean = outcome.reshape(episodes, width, samples).mean(axis=-1)
        mean = jnp.where(valid, mean, -jnp.inf)
        best = jnp.argmax(mean, axis=-1)
        return jnp.take_along_axis(actions, best[:, None], axis=-1)[:, 0]

    return choose
