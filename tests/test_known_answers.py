"""Hand-computed answers from the fact table (shared/reference), in expected-value mode.

Coefficients are written out here from the reference, not read from the spec
file, so a wrong number in the data file fails these tests.
"""

import math

import jax
import jax.numpy as jnp
import pytest

import sim
from tests.conftest import (
    ARMOR, ATTACK_POWER as AP, EXPECTED_CRIT as EC, MASTERY, act, with_resources,
)

AW_CRIT = 1.0 + 0.25  # 5 % base + 20 % from Avenging Wrath, x2 crits


def make_env(profile, fight=None, expected_value=True):
    return sim.make("retribution_paladin", profile, fight or sim.patchwerk(), expected_value=expected_value)


def damage(env, state, source):
    return float(state.damage_by_source[env.spec.source_names.index(source)])


@pytest.fixture(scope="module")
def env(test_profile):
    return make_env(test_profile)


@pytest.fixture(scope="module")
def aoe8(test_profile):
    return make_env(test_profile, sim.aoe(targets=8, health_per_target=1e9))


def test_stats_from_profile(env):
    assert float(env.stats.attack_power) == pytest.approx(AP)
    assert float(env.stats.crit) == pytest.approx(0.05)
    assert float(env.stats.mastery_points) == pytest.approx(8.0)
    assert float(env.stats.weapon_dps) == pytest.approx(250.0)


def test_crusader_strike(env):
    state = act(env, env.init(jax.random.key(0)), "crusader_strike")
    assert damage(env, state, "crusader_strike") == pytest.approx(1.4 * AP * 0.69 * MASTERY * EC * ARMOR, rel=1e-5)
    assert float(state.resources[0]) == 1.0


def test_judgment(env):
    state = act(env, env.init(jax.random.key(0)), "judgment")
    assert damage(env, state, "judgment") == pytest.approx(0.671596 * AP * 1.30 * MASTERY * EC, rel=1e-5)
    assert float(state.debuff_remaining[0, env.spec.debuff_names.index("judgment")]) == pytest.approx(15.0 - 1.5)


def test_final_verdict_and_judgment_bonus(env):
    plain = act(env, with_resources(env, env.init(jax.random.key(0)), 3), "final_verdict")
    expected = 4.04408 * AP * MASTERY * EC
    assert damage(env, plain, "final_verdict") == pytest.approx(expected, rel=1e-5)
    assert float(plain.resources[0]) == 0.0

    judged = act(env, env.init(jax.random.key(0)), "judgment")
    judged = act(env, with_resources(env, judged, 3), "final_verdict")
    assert damage(env, judged, "final_verdict") == pytest.approx(expected * 1.2, rel=1e-5)
    # The spender consumed the Judgment debuff.
    assert float(judged.debuff_remaining[0, env.spec.debuff_names.index("judgment")]) == 0.0


def test_hammer_of_wrath_needs_wrath_or_execute(env):
    state = env.init(jax.random.key(0))
    how = env.spec.action_index("hammer_of_wrath")
    assert not bool(state.legal_action_mask[how])
    state = act(env, state, "avenging_wrath")
    assert float(state.time) == 0.0  # off the GCD
    state = act(env, state, "hammer_of_wrath")
    assert damage(env, state, "hammer_of_wrath") == pytest.approx(1.43871 * AP * 1.05 * MASTERY * 1.2 * AW_CRIT,
                                                                  rel=1e-5)
    # Execute: at 250 s of a 300 s Patchwerk the target is at 1/6 health.
    late = env.init(jax.random.key(0)).replace(time=jnp.float32(250.0))
    late = late.replace(legal_action_mask=env.legal_action_mask(late))
    assert bool(late.legal_action_mask[how])


def test_blade_of_justice_and_expurgation(env):
    state = act(env, env.init(jax.random.key(0)), "blade_of_justice")
    assert damage(env, state, "blade_of_justice") == pytest.approx(1.37769 * AP * 1.05 * MASTERY * EC, rel=1e-5)
    assert float(state.resources[0]) == 2.0  # Holy Blade
    while float(state.time) < 10.0:
        state = act(env, state, "wait")
    # Ticks at 3, 6 and 9 s, unhasted.
    assert damage(env, state, "expurgation_debuff") == pytest.approx(3 * 0.2295 * AP * MASTERY * EC, rel=1e-5)


def test_auto_attacks(env):
    state = env.init(jax.random.key(0))
    while float(state.time) < 7.5:
        state = act(env, state, "wait")
    per_swing = (250.0 + AP / 6.0) * 3.6 * 5.0 * ARMOR * EC
    assert damage(env, state, "auto_attack") == pytest.approx(3 * per_swing, rel=1e-5)  # swings at 0, 3.6, 7.2


def test_execution_sentence_blast_and_stored_damage(env):
    state = act(env, env.init(jax.random.key(0)), "execution_sentence")
    state = act(env, state, "judgment")
    judgment = damage(env, state, "judgment")
    while float(state.time) < 11.0:
        state = act(env, state, "wait")
    blast = 5.05312 * AP * MASTERY * EC
    assert damage(env, state, "execution_sentence_debuff") == pytest.approx(blast + 0.2 * judgment, rel=1e-5)


def test_wake_of_ashes_hits_every_enemy(test_profile):
    env = make_env(test_profile, sim.aoe(targets=3, health_per_target=1e9))
    state = act(env, env.init(jax.random.key(0)), "wake_of_ashes")
    assert damage(env, state, "wake_of_ashes") == pytest.approx(3 * 3.2186 * AP * MASTERY * EC, rel=1e-5)
    assert float(state.resources[0]) == 3.0


@pytest.mark.parametrize("targets", [4, 5, 8])
def test_divine_storm_soft_cap(test_profile, targets):
    env = make_env(test_profile, sim.aoe(targets=targets, health_per_target=1e9))
    state = act(env, with_resources(env, env.init(jax.random.key(0)), 3), "divine_storm")
    reduction = math.sqrt(5 / targets) if targets > 5 else 1.0
    expected = targets * 1.8931 * AP * MASTERY * EC * reduction
    assert damage(env, state, "divine_storm") == pytest.approx(expected, rel=1e-5)


def test_divine_toll_hits_five_and_gives_holy_power(aoe8):
    state = act(aoe8, aoe8.init(jax.random.key(0)), "divine_toll")
    assert damage(aoe8, state, "divine_toll") == pytest.approx(5 * 0.671596 * 2.6 * AP * MASTERY * EC, rel=1e-5)
    assert float(state.resources[0]) == 5.0
    judged = state.debuff_remaining[:, aoe8.spec.debuff_names.index("judgment")] > 0
    assert [bool(x) for x in judged] == [True] * 5 + [False] * 3


def test_random_mode_crits_at_the_crit_rate(test_profile):
    env = make_env(test_profile, expected_value=False)
    fv = env.spec.action_index("final_verdict")

    def one(key):
        state = with_resources(env, env.init(key), 3)
        return env.step(state, fv).damage_by_source[env.spec.source_names.index("final_verdict")]

    hits = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), 4000))
    base = 4.04408 * AP * MASTERY
    crit = jnp.isclose(hits, 2 * base, rtol=1e-5)
    assert bool(jnp.all(crit | jnp.isclose(hits, base, rtol=1e-5)))
    assert 0.035 < float(crit.mean()) < 0.065  # 5 % crit, 4000 draws
