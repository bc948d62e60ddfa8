"""Prior and value for search leaves, before any network is trained: the APL.

The prior favours the APL's choice; the value plays the APL for a few decisions
and then adds a steady-rate estimate of the rest of the fight, so every leaf
estimates the same horizon (the whole fight) and deeper branches are not
favoured just for having collected more reward. The rest is valued at the
spec's nominal DPS (in fights that end when enemies die: plus the group's
damage): a few seconds of bursty rotation extrapolated over minutes would
swamp the differences search must see.

Value scale (the same as the simulator's rewards, so mctx's discount-1 sums
and its min-max q normalization behave): fixed-time fights, damage to the end
/ (nominal DPS x duration); fights that end when enemies die, -(time to the
end) / time limit (+ the player's damage to the end, weighted, on a route scored by both: the
rollout's, then the player's share of each pack left at the spec's steady rate for its size).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sim.engine import step_reward
from sim.env import Env
from sim.rollout import play_policy
from sim.types import OBJECTIVE_CLEAR_TIME, State

MASKED_LOGIT = -1e9


def masked_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    return jnp.where(legal, logits, MASKED_LOGIT)


def apl_prior(env: Env, apl, strength: float):
    """Prior logits [A+1]: `strength` on the APL's action, 0 on other legal ones."""

    def prior(state: State) -> jax.Array:
        choice = apl(state)
        logits = jnp.where(jnp.arange(env.num_actions) == choice, strength, 0.0)
        return masked_logits(logits, state.legal_action_mask)

    return prior


def uniform_prior(env: Env):
    def prior(state: State) -> jax.Array:
        return masked_logits(jnp.zeros(env.num_actions), state.legal_action_mask)

    return prior


def rollout_value(env: Env, apl, steps: int):
    """Values [N] of a batch of states ([N, ...] leaves): `steps` APL decisions, then
    the rest at a steady rate. The rollouts step the batch in the batch-last layout
    (`sim.rollout.play_policy`)."""
    f = env.fight_tables
    num_pulls = env.fight.num_pulls
    nominal = float(env.nominal_dps)
    enemies = jnp.sum(f.pull_health > 0, axis=1)
    later_pull_seconds = jnp.sum(f.pull_health, axis=1) / (nominal + f.group_dps * enemies)
    # Own damage on a route scored by it: the player's share of a pack's health, at the
    # player's steady rate for that many enemies (the spec's `steady_rate_by_targets`, in
    # nominal DPS; without it the nominal DPS) against the group's on each of them. A killed
    # enemy raises the player's share of the rest: the group's damage goes with it.
    rate_by_targets = nominal * jnp.asarray([1.0, *env.spec.settings.get("steady_rate_by_targets", ())], jnp.float32)

    def own_share(health, alive, group):
        rate = rate_by_targets[jnp.clip(alive, 0, rate_by_targets.shape[0] - 1)]
        return health * rate / (rate + group * jnp.maximum(alive, 1))

    later_pull_own = own_share(jnp.sum(f.pull_health, axis=1), enemies, f.group_dps)

    def value(states: State) -> jax.Array:
        if steps == 0:
            return jax.vmap(leaf_value)(states, states)

        # Search's short rollouts inside mctx stay batch-last: vmapped they measured slower
        # (`portunus bench search --simulations 64 --batch-sizes 64 --evaluators apl`, one
        # session: 64 states 231 ms batch-last, 392 ms vmapped; one state 28.5 vs 24.2 ms).
        return jax.vmap(leaf_value)(states, play_policy(env, apl, states, steps, last_axis=True))

    def leaf_value(state: State, end: State) -> jax.Array:
        # Damage objective (fixed-time fights): rollout damage + the nominal DPS over the time
        # left. (The rollout's own rate, even shrunk, carried its bursts over minutes and
        # outweighed the differences between actions: measured in tests/test_search.py.)
        time_left = jnp.maximum(f.time_limit - end.time, 0.0)
        damage_value = (end.damage_done - state.damage_done + nominal * time_left) * f.reward_scale
        # Clear-time objective: elapsed + the current pull's health at its steady rate + each
        # later pull at its own + travel. The rates must not depend on the rollout: a burst
        # extrapolated over minutes of remaining health outweighs everything else (measured:
        # search then cleared an AoE pack in 281 s where its own APL took 231 s); and a later
        # pull's rate is its own enemies', or killing one enemy now would look like slowing
        # the group down for the rest of the dungeon. No clipping at the timer: a pessimistic
        # estimate would flatten every sibling to the same value.
        alive_now = jnp.sum(end.enemy_alive)
        group_now = jnp.sum(jnp.where(jnp.arange(num_pulls) == end.pull_index, f.group_dps, 0.0))
        current = jnp.sum(end.enemy_health * end.enemy_alive) / (nominal + group_now * jnp.maximum(alive_now, 1))
        later = jnp.arange(num_pulls) > end.pull_index
        fighting = jnp.where(end.terminated, 0.0, current + jnp.sum(jnp.where(later, later_pull_seconds, 0.0)))
        to_clear = fighting + jnp.sum(jnp.where(later & ~end.terminated, f.pull_travel, 0.0))
        # A route weighted by the player's own damage too: the rollout's, then the player's
        # share of every pack left (none once the fight is over).
        own_now = own_share(jnp.sum(end.enemy_health * end.enemy_alive), alive_now, group_now)
        own_left = jnp.where(end.terminated, 0.0, own_now + jnp.sum(jnp.where(later, later_pull_own, 0.0)))
        own_damage = end.damage_done - state.damage_done + own_left
        time_value = -(end.time - state.time + to_clear) * f.reward_scale + own_damage * f.own_damage_scale
        return jnp.where(state.terminated, 0.0,
                         jnp.where(f.objective == OBJECTIVE_CLEAR_TIME, time_value, damage_value))

    return value


def bootstrapped_value(env: Env, apl, steps: int, network):
    """Values [N]: `steps` APL decisions, then the network's value of the state reached
    (n-step bootstrapping). The rollout keeps the exact short-horizon differences; the
    network, trained on whole returns, prices what the steady-rate tail cannot see (a
    cooldown kept for the next pull, which enemies are left). `network`: a
    `network_evaluator`."""

    def value(params, states: State) -> jax.Array:
        end = play_policy(env, apl, states, steps, last_axis=True) if steps else states
        _, tail = network(params, end)  # 0 where the rollout ended the fight
        # The simulator's rewards summed over the rollout (they add up: one formula per step).
        reward = step_reward(env.fight_tables, end.time - states.time, end.damage_done - states.damage_done)
        return jnp.where(states.terminated, 0.0, reward + tail)

    return value


def network_evaluator(env: Env, apply_fn):
    """Prior and value from a network: `apply_fn(params, observation) -> (logits [A+1], value)`,
    for a batch of states: (params, states) -> (logits [N, A+1], values [N])."""

    def evaluate(params, state: State):
        logits, value = apply_fn(params, env.observation(state))
        return masked_logits(logits, state.legal_action_mask), jnp.where(state.terminated, 0.0, value)

    return jax.vmap(evaluate, in_axes=(None, 0))
