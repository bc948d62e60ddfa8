"""Run many fights in parallel under a policy: vmap over fights, scan over steps."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from sim._xla import jit
from sim.env import Env
from sim.policies import Policy
from sim.types import State


def batch_last(states: State) -> State:
    """[N, ...] leaves -> [..., N]: the engine's fast layout (see sim/engine.py)."""
    return jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), states)


def batch_first(states: State) -> State:
    return jax.tree.map(lambda x: jnp.moveaxis(x, -1, 0), states)


# Which layout batched stepping uses. Batch-last (the engine stepping [..., N] leaves) was
# ~2x faster than `jax.vmap(env.step)` for the pre-12.0 engine (docs/simulator.md); for the
# 12.0 engine vmap is faster: 2-core CPU, default APL, chunks of 64 decisions, 234 k vs 155 k
# steps/s at batch 4096 and 268 k vs 139 k at 1024 (one process, medians of 5). Both stay
# tested equal (tests/test_invariants.py).
BATCH_LAST = False


def step_batch(env: Env, states: State, actions: jax.Array, last_axis: bool | None = None) -> State:
    """`jax.vmap(env.step)(states, actions)`, in the faster layout (`BATCH_LAST`, unless
    `last_axis` says)."""
    if BATCH_LAST if last_axis is None else last_axis:
        return batch_first(env.step(batch_last(states), actions))
    return jax.vmap(env.step)(states, actions)


def batch_last_policy(policy: Policy) -> Policy:
    """`policy(states, keys)` for a batch whose axis is last: the policy itself when it
    says it handles that layout (`policy.batch_last`, e.g. the compiled APL), else
    vmapped over the last axis (a policy written for one state)."""
    if getattr(policy, "batch_last", False):
        return policy
    return jax.vmap(policy, in_axes=(-1, 0))


def where_batch(mask: jax.Array, new, old):
    """Per entry of the leading (batch) axis: `new` where `mask`, else `old`, for every leaf."""
    return jax.tree.map(lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b), new, old)


def play_policy(env: Env, policy: Policy, states: State, steps: int, last_axis: bool | None = None) -> State:
    """`steps` decisions of `policy` for a batch ([N, ...] leaves), traced in the faster
    layout (`BATCH_LAST`, unless `last_axis` says). A policy key per decision, from the
    fight's key and step count; unused (and compiled away) for deterministic policies."""
    if BATCH_LAST if last_axis is None else last_axis:
        choose = batch_last_policy(policy)

        def one_step(states: State, _):
            # Keys only for a policy that draws (measured: folding them in for the APL cost
            # search ~25 % at 64 states, XLA does not remove it).
            keys = (jax.vmap(jax.random.fold_in)(states.key, states.step_count)
                    if getattr(policy, "uses_key", True) else None)
            return env.step(states, choose(states, keys)), None

        states, _ = jax.lax.scan(one_step, batch_last(states), None, length=steps)
        return batch_first(states)

    def one_step(states: State, _):
        if getattr(policy, "uses_key", True):
            actions = jax.vmap(policy)(states, jax.vmap(jax.random.fold_in)(states.key, states.step_count))
        else:
            actions = jax.vmap(lambda state: policy(state, None))(states)
        return jax.vmap(env.step)(states, actions), None

    states, _ = jax.lax.scan(one_step, states, None, length=steps)
    return states


def make_chunk_runner(env: Env, policy: Policy, chunk_steps: int) -> Callable[[State], State]:
    """A jitted function advancing a batch of states ([N, ...] leaves, as `init_batch`
    makes them) by `chunk_steps` decisions (`play_policy`)."""
    return jit(lambda states: play_policy(env, policy, states, chunk_steps))


def init_batch(env: Env, key: jax.Array, batch: int) -> State:
    return jax.vmap(env.init)(jax.random.split(key, batch))


def rollout(env: Env, policy: Policy, key: jax.Array, iterations: int, chunk_steps: int = 256,
            max_steps: int = 20_000, on_chunk: Callable[[State], None] | None = None) -> State:
    """Play `iterations` fights to the end (or `max_steps` decisions); returns the final
    batched states. `on_chunk` sees the batch after every chunk (for progress bars)."""
    states = init_batch(env, key, iterations)
    run = make_chunk_runner(env, policy, chunk_steps)
    steps = 0
    while steps < max_steps:
        states = run(states)
        steps += chunk_steps
        if on_chunk is not None:
            on_chunk(states)
        if bool(jnp.all(states.terminated)):
            break
    return states


def trace(env: Env, policy: Policy, key: jax.Array, max_steps: int = 4096) -> dict:
    """One fight decision by decision, for timelines: per step the time (before the
    action), the action, resources, cumulative damage and enemies alive."""

    def body(state: State, _):
        action = policy(state, jax.random.fold_in(state.key, state.step_count))
        after = env.step(state, action)
        record = {"time": state.time, "action": action, "resources": after.resources,
                  "damage_done": after.damage_done, "enemies_alive": jnp.sum(after.enemy_alive),
                  "pull_index": after.pull_index, "active": ~state.terminated}
        return after, record

    _, records = jit(lambda s: jax.lax.scan(body, s, None, length=max_steps))(env.init(key))
    records = jax.tree.map(lambda x: jax.device_get(x), records)
    keep = records.pop("active")
    return {name: values[keep] for name, values in records.items()}
