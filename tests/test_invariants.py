"""Properties over random legal action sequences (hypothesis), for every fight kind."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import sim
import sim.engine
import sim.policies
import sim.rollout
from portunus.profile import load_profile

FIGHTS = {
    "patchwerk": lambda: sim.patchwerk(duration=60.0),
    "aoe": lambda: sim.aoe(targets=6, health_per_target=60_000.0),
    "route": lambda: sim.load_route("short_test"),
}
STEPS = 48


@functools.lru_cache(maxsize=None)
def env_for(fight: str, expected_value: bool):
    return sim.make("retribution_paladin", load_profile(), FIGHTS[fight](), expected_value=expected_value)


def choose(mask, choice):
    """The `choice`-th legal action (mod the number of legal actions)."""
    legal = jnp.flatnonzero(mask, size=mask.shape[0], fill_value=mask.shape[0] - 1)
    return legal[choice % jnp.sum(mask)]


@functools.lru_cache(maxsize=None)
def trajectory_fn(fight: str, expected_value: bool):
    """jit(key, choices[STEPS]) -> states stacked over steps, plus the actions taken."""
    env = env_for(fight, expected_value)

    def run(key, choices):
        def body(state, choice):
            action = choose(state.legal_action_mask, choice)
            new = env.step(state, action)
            return new, (new, action)

        _, (states, actions) = jax.lax.scan(body, env.init(key), choices)
        return states, actions

    return jax.jit(run)


def removed_health(env, state):
    """Health removed so far: every earlier pull in full, plus the current pull's damage."""
    pulls = np.asarray(env.fight.pull_health)
    index = int(state.pull_index)
    return float(pulls[:index].sum() + (np.asarray(state.enemy_max_health) - np.asarray(state.enemy_health)).sum())


choices_strategy = st.lists(st.integers(0, 10_000), min_size=STEPS, max_size=STEPS)


@pytest.mark.parametrize("fight", list(FIGHTS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=choices_strategy, seed=st.integers(0, 2**31 - 1), expected_value=st.booleans())
def test_invariants_hold_along_random_legal_play(fight, choices, seed, expected_value):
    env = env_for(fight, expected_value)
    states, actions = trajectory_fn(fight, expected_value)(jax.random.key(seed), jnp.array(choices))
    s = jax.tree.map(np.asarray, states.replace(key=None))
    t = env.spec.tables
    assert (s.enemy_health >= 0).all()
    assert (s.recharge >= 0).all() and (s.buff_remaining >= 0).all() and (s.debuff_remaining >= 0).all()
    assert (s.resources >= 0).all() and (s.resources <= np.asarray(t.resource_max)).all()
    assert (s.charges >= 0).all() and (s.charges <= np.asarray(t.max_charges)).all()
    assert not s.illegal_action.any()  # only legal actions were chosen
    # Time never goes back; it moves on every action that takes time (all but off-GCD ones).
    times = np.concatenate([[0.0], s.time])
    abilities = env.spec.action_ability[np.asarray(actions)]
    off_gcd = np.asarray(t.gcd)[np.minimum(abilities, env.spec.num_abilities - 1)] == 0
    off_gcd &= abilities < env.spec.num_abilities
    running = ~np.concatenate([[False], s.terminated[:-1]])
    assert (np.diff(times) >= 0).all()
    assert (np.diff(times)[running & ~off_gcd] > 0).all()
    # Damage adds up: the player's plus the group's equals the health removed. (A
    # fixed-time target's health is a float32 1e12 whose percent follows time instead,
    # so its health removed is not resolvable; only the source breakdown is checked.)
    for i in range(STEPS):
        state_i = jax.tree.map(lambda x: x[i], states)
        total = float(s.damage_done[i] + s.group_damage[i])
        if not env.fight.fixed_time:
            assert total == pytest.approx(removed_health(env, state_i), rel=1e-4, abs=1.0)
        assert float(s.damage_by_source[i].sum()) == pytest.approx(float(s.damage_done[i]), rel=1e-4, abs=1.0)


@pytest.mark.parametrize("fight", list(FIGHTS))
def test_same_key_same_fight_and_different_keys_differ(fight):
    run = trajectory_fn(fight, False)
    choices = jnp.arange(STEPS) * 7919
    a, _ = run(jax.random.key(3), choices)
    b, _ = run(jax.random.key(3), choices)
    c, _ = run(jax.random.key(4), choices)
    assert float(a.damage_done[-1]) == float(b.damage_done[-1])
    assert bool(jnp.all(a.time == b.time))
    # Another key, another fight (the whole course: a short AoE ends at the same total).
    assert not bool(jnp.all(a.damage_done == c.damage_done))


def test_jit_and_eager_agree():
    env = env_for("aoe", False)
    key = jax.random.key(11)
    jitted = eager = env.init(key)
    step = jax.jit(env.step)
    for i in range(4):  # eager runs op by op: each step takes seconds
        action = int(choose(jitted.legal_action_mask, i * 31))
        jitted = step(jitted, action)
        with jax.disable_jit():
            eager = env.step(eager, action)
    for x, y in zip(jax.tree.leaves(jitted.replace(key=None)), jax.tree.leaves(eager.replace(key=None))):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-3)


def test_vmap_of_n_equals_n_single_runs():
    run = trajectory_fn("route", False)
    keys = jax.random.split(jax.random.key(5), 4)
    choices = jnp.stack([jnp.arange(STEPS) * (k + 3) for k in range(4)])
    batched, _ = jax.jit(jax.vmap(run))(keys, choices)
    for k in range(4):
        single, _ = run(keys[k], choices[k])
        for x, y in zip(jax.tree.leaves(batched.replace(key=None)), jax.tree.leaves(single.replace(key=None))):
            np.testing.assert_allclose(np.asarray(x)[k], np.asarray(y), rtol=1e-5, atol=1e-3)


# Every fight with random procs; expected-value mode (its accumulators do not depend on the
# fight) on the route, whose pulls, travel and enemy slots cover the most code.
@pytest.mark.parametrize("fight, expected_value", [(f, False) for f in FIGHTS] + [("route", True)])
def test_batch_last_layout_steps_like_vmap(fight, expected_value):
    """The engine stepping a batch whose axis is last (the layout `sim.rollout.BATCH_LAST`
    chooses) plays the same fights as `jax.vmap(env.step)`, step by step."""
    env = env_for(fight, expected_value)
    n = sim.engine.MATERIALIZE_MIN_BATCH  # large enough for the batch-only code paths
    starts = sim.rollout.init_batch(env, jax.random.key(21), n)
    choices = jnp.stack([jnp.arange(STEPS) * (k + 7) + k for k in range(n)], axis=1)  # [STEPS, n]

    def by_vmap(states, choice):
        actions = jax.vmap(choose)(states.legal_action_mask, choice)
        states = jax.vmap(env.step)(states, actions)
        return states, (states, actions)

    def by_batch_last(states, choice):
        actions = jax.vmap(choose, in_axes=(-1, 0))(states.legal_action_mask, choice)
        states = env.step(states, actions)
        return states, (sim.rollout.batch_first(states), actions)

    _, (want, want_actions) = jax.jit(lambda s: jax.lax.scan(by_vmap, s, choices))(starts)
    _, (got, got_actions) = jax.jit(lambda s: jax.lax.scan(by_batch_last, sim.rollout.batch_last(s), choices))(starts)
    np.testing.assert_array_equal(np.asarray(got_actions), np.asarray(want_actions))
    assert float(jnp.sum(want.damage_done[-1])) > 0
    got_leaves = jax.tree_util.tree_leaves_with_path(got.replace(key=None))
    for (path, x), y in zip(got_leaves, jax.tree.leaves(want.replace(key=None)), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-3,
                                   err_msg=jax.tree_util.keystr(path))


def test_chunk_runner_matches_a_vmapped_scan_of_the_apl():
    """make_chunk_runner (batch-last inside) = a plain vmapped scan, policy keys included."""
    env = env_for("route", False)
    policy = sim.policies.POLICIES["apl"](env)
    starts = sim.rollout.init_batch(env, jax.random.key(3), sim.engine.MATERIALIZE_MIN_BATCH)

    def one(state, _):
        return env.step(state, policy(state, jax.random.fold_in(state.key, state.step_count))), None

    want = jax.jit(lambda s: jax.lax.scan(lambda s, x: jax.vmap(one)(s, x), s, None, length=STEPS)[0])(starts)
    got = sim.rollout.make_chunk_runner(env, policy, STEPS)(starts)
    np.testing.assert_array_equal(np.asarray(got.casts), np.asarray(want.casts))
    np.testing.assert_allclose(np.asarray(got.damage_done), np.asarray(want.damage_done), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got.time), np.asarray(want.time), rtol=1e-6)
