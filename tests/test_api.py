"""One API test over every fight kind, as pgx runs one over every game."""

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
    else:  # fights that end when the enemies die reward speed
        expected = -final.time / env.fight.time_limit
    assert np.all(np.abs(expected) <= 2.0)


def test_return_equals_sum_of_rewards(env):
    policy = random_legal(env)

    def body(state, key):
        state = env.step(state, policy(state, key))
        return state, state.reward

    final, rewards = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 300)))(
        env.init(jax.random.key(2)), jax.random.key(3))
    if not env.fight.fixed_time:
        expected = -float(final.time) * float(env.fight_tables.reward_scale)
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
