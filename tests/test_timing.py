"""Cooldowns, charges, GCD, resources, buff expiry, procs, illegal actions, fight end."""

import jax
import jax.numpy as jnp
import pytest

import sim
from tests.conftest import act, jit_step, make_test_env, profile_with, with_resources


def make_env(profile, fight=None):
    return make_test_env(profile, fight)


@pytest.fixture(scope="module")
def env(test_profile):
    return make_env(test_profile)


@pytest.fixture(scope="module")
def hasted():
    """20 % haste: 880 rating at 44 rating per percent."""
    return make_env(profile_with(haste_rating=880))


def index(env, name):
    return env.spec.action_index(name)


def test_gcd_is_hasted_with_a_floor(env, hasted):
    assert float(act(env, env.init(jax.random.key(0)), "crusader_strike").time) == pytest.approx(1.5)
    assert float(act(hasted, hasted.init(jax.random.key(0)), "crusader_strike").time) == pytest.approx(1.25)
    # Execution Sentence: 0.75 s GCD, already at the floor.
    assert float(act(hasted, hasted.init(jax.random.key(0)), "execution_sentence").time) == pytest.approx(0.75)
    # Wake of Ashes: GCD not hasted.
    assert float(act(hasted, hasted.init(jax.random.key(0)), "wake_of_ashes").time) == pytest.approx(1.5)


def test_charges_and_recharge(env):
    cs = env.spec.ability_names.index("crusader_strike")
    state = act(env, env.init(jax.random.key(0)), "crusader_strike")
    assert int(state.charges[cs]) == 1 and float(state.recharge[cs]) == pytest.approx(6.0 - 1.5)
    state = act(env, state, "crusader_strike")
    assert int(state.charges[cs]) == 0 and float(state.recharge[cs]) == pytest.approx(3.0)
    assert not bool(state.legal_action_mask[index(env, "crusader_strike")])
    while float(state.time) < 6.0:
        state = act(env, state, "wait")
    assert float(state.time) == pytest.approx(6.0)  # the wait ends when the charge is back
    assert int(state.charges[cs]) == 1 and float(state.recharge[cs]) == pytest.approx(6.0)
    while float(state.time) < 12.0:
        state = act(env, state, "wait")
    assert int(state.charges[cs]) == 2 and float(state.recharge[cs]) == 0.0


def test_hasted_cooldown(hasted):
    judgment = hasted.spec.ability_names.index("judgment")
    state = act(hasted, hasted.init(jax.random.key(0)), "judgment")
    assert float(state.recharge[judgment]) == pytest.approx(11.0 / 1.2 - 1.25, abs=1e-4)
    # Wake of Ashes' cooldown is not hasted.
    state = act(hasted, hasted.init(jax.random.key(0)), "wake_of_ashes")
    assert float(state.recharge[hasted.spec.ability_names.index("wake_of_ashes")]) == pytest.approx(30.0 - 1.5)


def test_holy_power_gain_cap_and_spend(env):
    state = act(env, with_resources(env, env.init(jax.random.key(0)), 4), "blade_of_justice")
    assert float(state.resources[0]) == 5.0  # capped
    state = act(env, state, "final_verdict")
    assert float(state.resources[0]) == 2.0
    assert not bool(state.legal_action_mask[index(env, "final_verdict")])


def test_avenging_wrath_expires(env):
    wrath = env.spec.buff_names.index("avenging_wrath")
    state = act(env, env.init(jax.random.key(0)), "avenging_wrath")
    assert float(state.buff_remaining[wrath]) == pytest.approx(20.0)
    assert bool(state.legal_action_mask[index(env, "hammer_of_wrath")])
    while float(state.time) < 20.0:
        state = act(env, state, "wait")
    assert float(state.buff_remaining[wrath]) == 0.0
    assert not bool(state.legal_action_mask[index(env, "hammer_of_wrath")])


def test_expected_value_procs_fire_once_per_whole_proc():
    """Empyrean Power: 15 % per Crusader Strike, so the 7th strike (7 x 0.15 >= 1) gives it."""
    env = make_env(profile_with("empyrean_power"))
    empyrean = env.spec.buff_names.index("empyrean_power")
    cs = env.spec.ability_names.index("crusader_strike")
    state = env.init(jax.random.key(0))
    for strike in range(1, 8):
        state = state.replace(charges=state.charges.at[cs].set(2))
        state = act(env, state.replace(legal_action_mask=env.legal_action_mask(state)), "crusader_strike")
        assert (float(state.buff_remaining[empyrean]) > 0) == (strike == 7)
    # The free, empowered Divine Storm consumes it and costs nothing.
    state = act(env, state, "divine_storm")
    assert float(state.buff_remaining[empyrean]) == 0.0
    assert float(state.resources[0]) == 5.0  # 7 strikes, capped at 5; the free storm spent none


def test_illegal_action_is_a_flagged_wait(env):
    state = env.init(jax.random.key(0))
    fv = index(env, "final_verdict")
    ability = env.spec.ability_names.index("final_verdict")
    assert not bool(state.legal_action_mask[fv])
    after = jit_step(env)(state, fv)
    assert bool(after.illegal_action)
    assert float(after.damage_by_source[ability]) == 0.0
    assert int(after.casts[ability]) == 0 and int(after.casts[env.spec.num_abilities]) == 1
    assert float(after.resources[0]) == 0.0
    for bad in (-1, env.num_actions):
        assert bool(jit_step(env)(state, bad).illegal_action)


def test_finished_fight_does_not_change(test_profile):
    env = make_env(test_profile, sim.patchwerk(duration=4.0))
    state = env.init(jax.random.key(0))
    while not bool(state.terminated):
        state = act(env, state, "crusader_strike" if bool(state.legal_action_mask[0]) else "wait")
    assert float(state.time) == pytest.approx(4.0)  # the last GCD is cut at the fight's end
    mask = state.legal_action_mask
    assert bool(mask[env.wait_action]) and int(mask.sum()) == 1
    again = jit_step(env)(state, env.wait_action)
    assert float(again.reward) == 0.0
    for old, new in zip(jax.tree.leaves(state.replace(key=None, reward=None)),
                        jax.tree.leaves(again.replace(key=None, reward=None))):
        assert bool(jnp.all(old == new))


def test_health_fight_ends_when_the_target_dies(test_profile):
    env = make_env(test_profile, sim.patchwerk(health=50_000))
    state = env.init(jax.random.key(0))
    while not bool(state.terminated):
        state = act(env, state, "crusader_strike" if bool(state.legal_action_mask[0]) else "wait")
    assert float(state.damage_done) == pytest.approx(50_000.0, rel=1e-5)
    assert float(state.enemy_health[0]) == 0.0 and float(state.pull_clear_time[0]) == float(state.time)


def test_route_travels_between_pulls(test_profile):
    env = make_env(test_profile, sim.load_route("short_test"))
    step = jit_step(env)
    state = env.init(jax.random.key(0))
    while int(state.pull_index) == 0:
        state = step(state, env.wait_action)
    cleared_first = float(state.pull_clear_time[0])
    assert cleared_first > 0
    assert float(state.time) >= cleared_first + 10.0  # 10 s of travel to the second pull
    assert int(state.enemy_alive.sum()) == 3


def test_fast_recharge_path_matches_the_general_one(env):
    """Within one step of play at most one charge returns, so the fast path must agree."""
    from sim import engine
    from sim.spec import SPEC_DIR, compile_spec

    assert env.spec.one_charge_per_step
    state = act(env, act(env, env.init(jax.random.key(0)), "crusader_strike"), "crusader_strike")
    state = act(env, state, "judgment")
    for dt in (0.1, 0.75, 1.5):
        for elapsed in (0.0, 1.6, 2.9, 3.0):
            start = state.replace(recharge=jnp.maximum(state.recharge - elapsed, 0.0))
            fast = engine.tick_timers(start, env.spec, jnp.float32(dt), jnp.float32(1.2), at_most_one_charge=True)
            full = engine.tick_timers(start, env.spec, jnp.float32(dt), jnp.float32(1.2))
            assert bool(jnp.all(fast.charges == full.charges))
            assert bool(jnp.allclose(fast.recharge, full.recharge, atol=1e-5))
    # A spec with a cooldown shorter than a step at high haste keeps the general path.
    text = (SPEC_DIR / "retribution_paladin.toml").read_text().replace("cooldown = 6.0 ", "cooldown = 2.0 ", 1)
    assert not compile_spec(text, "fast.toml").one_charge_per_step
