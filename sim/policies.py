"""Built-in policies: `policy(state, key) -> action` for one state (vmap for batches).

`apl` (the spec's default action priority list) is the real baseline; the
others are naive yardsticks it must beat. All are pure and jittable.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from sim import engine
from sim.env import Env
from sim.types import State

Policy = Callable[[State, jax.Array], jax.Array]


def random_legal(env: Env) -> Policy:
    """A uniformly random legal action (wait included)."""

    def policy(state: State, key: jax.Array) -> jax.Array:
        # One uniform number picks the k-th legal action (jax.random.categorical draws one
        # per action; the random bits dominated the step's cost).
        mask = state.legal_action_mask
        pick = jnp.floor(jax.random.uniform(key) * jnp.sum(mask)).astype(jnp.int32)
        return jnp.argmax(jnp.cumsum(mask) > pick).astype(jnp.int32)

    return policy


def first_legal(env: Env, state: State, order: tuple[int, ...]) -> jax.Array:
    """The first ability of the static `order` (ability indices) that is legal on the current
    target, as an action; else wait. Static slices, no gather (a gather per state is slow on
    CPU); works on batched states with trailing batch axes too."""
    _, slot = engine.primary_target(state)
    choice = jnp.full(state.time.shape, env.wait_action, jnp.int32)
    for ability in reversed(order):
        action, legal = engine.action_on(env.spec, ability, slot, state.legal_action_mask)
        choice = jnp.where(legal, action, choice)
    return choice


def simple_priority(env: Env) -> Policy:
    """The spec's `simple_priority` list (and its AoE list at enough enemies):
    the first legal ability in order on the current target, else wait."""
    settings = env.spec.settings
    names = env.spec.ability_names
    single = tuple(names.index(n) for n in settings["simple_priority"])
    aoe = tuple(names.index(n) for n in settings.get("simple_priority_aoe", settings["simple_priority"]))
    threshold = int(settings.get("simple_priority_aoe_min_enemies", 3))

    def policy(state: State, key: jax.Array) -> jax.Array:
        return jnp.where(jnp.sum(state.enemy_alive, axis=0) >= threshold,
                         first_legal(env, state, aoe), first_legal(env, state, single))

    policy.batch_last = True  # also takes a batch whose axis is last (sim/rollout.py)
    return policy


def highest_damage(env: Env) -> Policy:
    """Greedy: the legal ability whose own hit on the current target does the most expected
    damage right now (one expected-value step per ability, not per ability and enemy slot);
    ties go to the lower index, no damage = wait."""
    expected = dataclasses.replace(env, expected_value=True)
    num_abilities = env.spec.num_abilities
    abilities = jnp.arange(num_abilities)

    def policy(state: State, key: jax.Array) -> jax.Array:
        _, slot = engine.primary_target(state)
        actions, legal = (jnp.stack(column) for column in zip(
            *(engine.action_on(env.spec, ability, slot, state.legal_action_mask) for ability in range(num_abilities))))

        def gain(ability, action):
            after = expected.step(state, action)
            own = abilities == ability
            return jnp.sum(jnp.where(own, after.damage_by_source[:num_abilities]
                                     - state.damage_by_source[:num_abilities], 0.0))

        gains = jnp.where(legal, jax.vmap(gain)(abilities, actions), -1.0)
        return jnp.where(jnp.max(gains) > 0, actions[jnp.argmax(gains)], env.wait_action).astype(jnp.int32)

    return policy


def default_apl(env: Env) -> Policy:
    """The spec's default action priority list (sim/specs/<spec>.simc)."""
    from sim.apl import load_apl

    return load_apl(env)


POLICIES = {"apl": default_apl, "simple": simple_priority, "greedy": highest_damage, "random": random_legal}


def with_hold(env: Env, choose: Callable[[State], jax.Array]) -> Callable[[State], tuple[jax.Array, jax.Array]]:
    """(choice, "hold cooldowns" choice) of a state -> action function: the second is what it picks
    when the spec's major cooldowns are not ready, the alternative the overlay and service show."""
    major = env.spec.tables.major_cooldown

    def pair(state: State):
        held = state.replace(charges=jnp.where(major, 0, state.charges),
                             recharge=jnp.where(major, 999.0, state.recharge))
        return choose(state), choose(held.replace(legal_action_mask=env.legal_action_mask(held)))

    return pair
