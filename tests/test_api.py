"""One API test over every fight kind, as pgx runs one over every game."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sim
from sim.policies import random_legal, simple_priority
from sim.rollout import rollout

FIGHTS = {
    "patchwerk": lambda: sim.patchwerk(duration=30.0),
    "aoe": lambda: sim.aoe(targets=4, health_per_target=40_000.0),
    "route": lambda: sim.load_route("short_test"),
    # A route scored by the clear and the player's own damage (`,own_damage=` in fight names).
    "route_own_damage": lambda: dataclasses.replace(sim.load_route("short_test"), own_damage_weight=1.5),
}


@pytest.fixture(scope="module", params=list(FIGHTS))
def env(request):
    return sim.make(fight=FIGHTS[request.param]())


def test_init_step_observation_under_jit_vmap_scan(env):
    keys = jax.random.split(jax.random.key(0), 3)
    states = jax.jit(jax.vmap(env.init))(keys)
    observation = jax.vmap(env.observation)(states)
    assert observation.shape == (3, env.observation_size) and observation.dtype == jnp.float32
    assert states.legal_action_mask.shape == (3, env.num_actions)
    assert bool(jnp.all(states.legal_action_mask[:, env.wait_action]))

    def body(state, _):
        action = jnp.argmax(state.legal_action_mask[:-1]).astype(jnp.int32)
        state = env.step(state, action)
        return state, (state.reward, env.observation(state))

    final, (rewards, observations) = jax.jit(jax.vmap(lambda s: jax.lax.scan(body, s, None, length=20)))(states)
    assert rewards.shape == (3, 20) and observations.shape == (3, 20, env.observation_size)
    assert bool(jnp.all(jnp.isfinite(observations)))
    assert bool(jnp.all((final.step_count == 20) | final.terminated))  # a finished fight stops counting


def test_rollouts_finish_and_rewards_are_scaled(env):
    states = rollout(env, simple_priority(env), jax.random.key(1), 8, chunk_steps=64)
    assert bool(jnp.all(states.terminated))
    # Episode returns stay near [-1, 1]: damage / (nominal DPS x length), or -time / timer.
    final = jax.tree.map(np.asarray, states.replace(key=None))
    if env.fight.fixed_time:
        expected = final.damage_done / (env.spec.settings["nominal_dps"] * env.fight.time_limit)
    else:  # fights that end when the enemies die reward speed (and the player's damage if weighted)
        expected = -final.time / env.fight.time_limit + env.fight.own_damage_weight * final.damage_done / (
            env.spec.settings["nominal_dps"] * env.fight.time_limit)
    assert np.all(np.abs(expected) <= 2.0)


def test_return_equals_sum_of_rewards(env):
    policy = random_legal(env)

    def body(state, key):
        state = env.step(state, policy(state, key))
        return state, state.reward

    final, rewards = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 300)))(
        env.init(jax.random.key(2)), jax.random.key(3))
    if not env.fight.fixed_time:
        own_damage = float(final.damage_done) * env.fight.own_damage_weight / (
            env.spec.settings["nominal_dps"] * env.fight.time_limit)
        expected = -float(final.time) * float(env.fight_tables.reward_scale) + own_damage
        assert (own_damage > 0.01) == (env.fight.own_damage_weight > 0)
    else:
        expected = float(final.damage_done) * float(env.fight_tables.reward_scale)
    assert float(rewards.sum()) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_simple_policy_beats_random(env):
    simple = rollout(env, simple_priority(env), jax.random.key(4), 16, chunk_steps=64)
    random = rollout(env, random_legal(env), jax.random.key(4), 16, chunk_steps=64)
    if env.fight.fixed_time:
        # Swings, damage over time and procs that any play gets are much of the damage: 10 %.
        assert float(simple.damage_done.mean()) > 1.1 * float(random.damage_done.mean())
    else:
        assert float(simple.time.mean()) < float(random.time.mean())


def test_observation_says_what_is_coming():
    """Holding cooldowns needs to see Bloodlust and the next pull before they arrive."""
    late = sim.make(fight=sim.patchwerk(duration=300.0, bloodlust_at=90.0))
    state = late.init(jax.random.key(0))
    head = late.observation_head(state)
    np.testing.assert_allclose(late.observation(state)[:len(head)], jnp.stack(list(head.values())))
    np.testing.assert_allclose(head["bloodlust_soon"], np.exp(-1.5), rtol=1e-6)
    assert float(head["bloodlust_on_later_pull"]) == 0.0 and float(head["next_pull_size"]) == 0.0
    lusted = late.observation_head(state.replace(time=jnp.float32(95.0), bloodlust_used=jnp.bool_(True)))
    assert float(lusted["bloodlust_soon"]) == 0.0
    never = sim.make(fight=sim.patchwerk(duration=300.0, bloodlust_at=None))
    assert float(never.observation_head(never.init(jax.random.key(0)))["bloodlust_soon"]) == 0.0

    route = sim.load_route("hold_for_big_pull")
    env = sim.make(fight=route)
    head = env.observation_head(env.init(jax.random.key(0)))
    ratio = route.pull_health[1].sum() / route.pull_health[0].sum()
    np.testing.assert_allclose(head["next_pull_size"], ratio / (1 + ratio), rtol=1e-5)
    assert ratio > 5   # the route's point: a far larger pull follows
    assert float(head["bloodlust_on_later_pull"]) == 0.0
    lust_later = sim.make(fight=dataclasses.replace(route, pull_bloodlust=(False, True)))
    assert float(lust_later.observation_head(lust_later.init(jax.random.key(0)))["bloodlust_on_later_pull"]) == 1.0
