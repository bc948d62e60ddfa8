"""Live snapshots into simulator states: sim.from_snapshot and its inverse for the demo."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import sim
from portunus.errors import InputError
from portunus.protocol import AuraState, CooldownState, EnemyState, GameSnapshot, ResourceState, decode, encode
from sim.policies import simple_priority


@pytest.fixture(scope="module")
def aoe_env():
    return sim.make(fight=sim.aoe(targets=4), expected_value=True)


def play_to(env, steps: int):
    state = env.init(jax.random.key(1))
    policy = simple_priority(env)
    step = jax.jit(lambda s: env.step(s, policy(s, jax.random.key(0))))
    for _ in range(steps):
        state = step(state)
    return state


def test_sim_state_survives_barcode_and_back(aoe_env):
    """State -> snapshot -> pixels -> snapshot -> State keeps what the planner reads (within the wire's 0.01 s)."""
    state = play_to(aoe_env, 25)
    snapshot = sim.to_snapshot(aoe_env, state, frame=3)
    decoded = decode(encode(snapshot, 2))
    back = sim.from_snapshot(aoe_env, decoded)
    alive = np.asarray(state.enemy_alive)
    np.testing.assert_allclose(back.time, state.time, atol=1e-3)
    np.testing.assert_array_equal(back.resources, np.round(state.resources))
    np.testing.assert_array_equal(back.charges, state.charges)
    np.testing.assert_allclose(back.recharge, np.where(state.charges < aoe_env.spec.tables.max_charges,
                                                       state.recharge, 0), atol=0.006)
    np.testing.assert_allclose(back.buff_remaining, state.buff_remaining, atol=0.006)
    np.testing.assert_array_equal(back.buff_stacks, state.buff_stacks)
    count = int(alive.sum())
    np.testing.assert_allclose(back.enemy_health[:count], np.asarray(state.enemy_health)[alive], atol=0.51)
    np.testing.assert_allclose(back.debuff_remaining[:count], np.asarray(state.debuff_remaining)[alive], atol=0.006)
    np.testing.assert_array_equal(back.legal_action_mask, state.legal_action_mask)


def test_timers_run_down_to_the_next_decision():
    env = sim.live_env()                                  # 8 enemy slots; the snapshot fills one
    spec = env.spec
    cooldowns = [CooldownState(0.0, int(c)) for c in spec.tables.max_charges]
    judgment = spec.ability_names.index("judgment")
    crusader = spec.ability_names.index("crusader_strike")
    cooldowns[judgment] = CooldownState(0.8, 0)          # back before the 1.0 s GCD ends
    cooldowns[crusader] = CooldownState(3.0, 0)          # 2 charges: none ready, one in 3 s
    snapshot = GameSnapshot(
        spec_id=spec.wow_spec_id, combat_time=10.0, gcd_remaining=1.0, resources=(ResourceState(4, 5),),
        cooldowns=tuple(cooldowns), buffs=(AuraState(5.0, 1),) + (AuraState(0.0, 0),) * (len(spec.buff_names) - 1),
        enemies=(EnemyState(health=500_000, max_health=1_000_000, debuffs=(AuraState(),) * len(spec.debuff_names)),))
    state = sim.from_snapshot(env, snapshot)
    assert float(state.time) == pytest.approx(11.0)
    assert int(state.charges[judgment]) == 1 and float(state.recharge[judgment]) == 0.0
    assert int(state.charges[crusader]) == 0 and float(state.recharge[crusader]) == pytest.approx(2.0)
    assert float(state.buff_remaining[0]) == pytest.approx(4.0)
    assert float(state.resources[0]) == 4.0
    assert float(state.enemy_health[0]) == 500_000 and bool(state.enemy_alive[0])
    assert not bool(state.enemy_alive[1:].any())


def test_unknown_values_get_neutral_guesses():
    env = sim.make(expected_value=True)
    spec = env.spec
    snapshot = GameSnapshot(
        spec_id=0, resources=(ResourceState(),), cooldowns=(CooldownState(),) * spec.num_abilities,
        buffs=(AuraState(),) * len(spec.buff_names),
        enemies=(EnemyState(health_pct=20.0, max_health=None, debuffs=(AuraState(),) * len(spec.debuff_names)),))
    state = sim.from_snapshot(env, snapshot)
    np.testing.assert_array_equal(state.charges, spec.tables.max_charges)   # unknown cooldowns: ready
    assert float(state.buff_remaining.sum()) == 0.0                         # unknown auras: absent
    assert float(state.enemy_health[0] / state.enemy_max_health[0]) == pytest.approx(0.2)
    assert bool(state.enemy_in_range[0])


def test_snapshot_of_another_spec_is_a_clear_error():
    env = sim.make()
    good = sim.to_snapshot(env, env.init(jax.random.key(0)))
    with pytest.raises(InputError, match="snapshot.spec_id: the game reports spec 62"):
        sim.from_snapshot(env, dataclasses.replace(good, spec_id=62))
    with pytest.raises(InputError, match=rf"snapshot.cooldowns: 3 entries, retribution_paladin tracks "
                                         rf"{env.spec.num_abilities}"):
        sim.from_snapshot(env, dataclasses.replace(good, cooldowns=good.cooldowns[:3]))
    with pytest.raises(InputError, match=r"snapshot.enemies\[0\].debuffs"):
        sim.from_snapshot(env, dataclasses.replace(good, enemies=(EnemyState(),)))
