"""Self-play: a batch of environments plays `unroll_length` decisions with search.

Each decision runs mctx search with the network as prior and value and the true
(expected-value) simulator as model; the environment itself steps with its own
randomness. Finished episodes restart at once with the same character. Value
targets are n-step returns to the end of the unroll, bootstrapped with the
network's value of the state reached there (zero across episode ends).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import mctx

from search.planner import make_search
from search.types import SearchConfig
from sim.env import Env
from sim.rollout import play_policy, step_batch, where_batch
from sim.types import OBJECTIVE_CLEAR_TIME, State
from train.types import Transition


def search_actor(env: Env, config, apply_fn: Callable):
    """(params, key, states) -> (actions, policy targets) from Gumbel MuZero / PUCT search."""
    search = make_search(env, SearchConfig(policy=config.search_policy, num_simulations=config.num_simulations,
                                           gumbel_scale=config.gumbel_scale, expected_value=True,
                                           value=config.search_value, rollout_steps=config.rollout_steps,
                                           dirichlet_fraction=0.25 if config.search_policy == "muzero" else 0.0),
                         apply_fn)

    def act(params, key, states: State):
        output: mctx.PolicyOutput = search(params, key, states)
        if config.policy_target == "argmax":  # the improved policy's best action; ties go to the prior
            best = jnp.argmax(output.action_weights, axis=-1)
            return output.action, jax.nn.one_hot(best, output.action_weights.shape[-1])
        return output.action, output.action_weights

    return act


def apl_actor(env: Env, apl):
    """The default APL as teacher (warm start): its choice, as a one-hot target."""

    def act(params, key, states: State):
        actions = jax.vmap(apl)(states)
        return actions, jax.nn.one_hot(actions, env.num_actions)

    return act


def restart_finished(env: Env, key, after: State, stats) -> State:
    """Finished episodes start again at once with the same character."""
    done = after.terminated
    return where_batch(done, jax.vmap(env.init)(jax.random.split(key, done.shape[0]), stats), after)


def stagger(env: Env, apl, key, states: State, stats, max_decisions: int) -> State:
    """Each environment plays a uniform 0..max_decisions APL decisions (not recorded), so a
    batch that starts together does not move through its fight in step: a short run (a
    fine-tuning) then also sees the later pulls of a long route."""
    count_key, play_key = jax.random.split(key)
    todo = jax.random.randint(count_key, states.time.shape, 0, max_decisions + 1)

    def decide(states: State, inputs):
        index, reset_key = inputs
        after = restart_finished(env, reset_key, play_policy(env, apl, states, 1), stats)
        return where_batch(index < todo, after, states), None

    states, _ = jax.lax.scan(decide, states, (jnp.arange(max_decisions), jax.random.split(play_key, max_decisions)))
    return states


def unroll(env: Env, act, apply_fn: Callable, length: int):
    """A jittable `play(params, key, states, stats) -> (states, Transition[T*B], episode stats)`."""
    clear_time_objective = int(env.fight.objective) == OBJECTIVE_CLEAR_TIME

    def play(params, key, states: State, stats):
        def decide(states: State, key):
            search_key, reset_key = jax.random.split(key)
            actions, policy = act(params, search_key, states)
            observation = jax.vmap(env.observation)(states)
            after = step_batch(env, states, actions)
            done = after.terminated
            following = restart_finished(env, reset_key, after, stats)
            record = {"observation": observation, "legal": states.legal_action_mask, "policy": policy,
                      "reward": after.reward, "done": done,
                      "dps": after.damage_done / jnp.maximum(after.time, 1e-3), "time": after.time}
            return following, record

        states, records = jax.lax.scan(decide, states, jax.random.split(key, length))
        _, bootstrap = apply_fn(params, jax.vmap(env.observation)(states))

        def discount_back(following_return, step):
            value = step["reward"] + jnp.where(step["done"], 0.0, following_return)
            return value, value

        _, returns = jax.lax.scan(discount_back, bootstrap, records, reverse=True)
        transitions = Transition(observation=records["observation"], legal=records["legal"],
                                 policy=records["policy"], value=returns)
        transitions = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), transitions)
        done = records["done"]
        finished = jnp.sum(done)

        def mean_at_end(values):  # NaN when no episode ended in this unroll
            return jnp.where(finished > 0, jnp.sum(jnp.where(done, values, 0.0)) / jnp.maximum(finished, 1),
                             jnp.nan)

        episode = {"episodes": finished, "dps": mean_at_end(records["dps"]),
                   "clear_time": mean_at_end(records["time"]) if clear_time_objective else jnp.float32(jnp.nan)}
        return states, transitions, episode

    return play
