"""Hand-computed answers from SimC's spell data (shared/reference, sim/specs notes), in
expected-value mode, per ability and per talent.

Coefficients and modifiers are written out here from the spell data, not read from the spec
file, so a wrong number in the data file fails these tests. "aura" is the Retribution aura
137027 (#11 +5 %, #13 +30 % Judgment, #14 -31 % Crusader Strike).
"""

import math

import jax
import jax.numpy as jnp
import pytest

import sim
from portunus.profile import parse_profile
from tests.conftest import (
    TEST_PROFILE, ARMOR, ATTACK_POWER as AP, EXPECTED_CRIT as EC, MASTERY, SPELL_POWER as SP, act, make_test_env, profile_with,
    with_resources,
)

AW_CRIT = 1.0 + 0.25  # 5 % base + 20 % from Avenging Wrath, x2 crits


def damage(env, state, source):
    return float(state.damage_by_source[env.spec.source_names.index(source)])


def buff(env, state, name):
    index = env.spec.buff_names.index(name)
    return float(state.buff_remaining[index]), int(state.buff_stacks[index])


def wait_until(env, state, seconds):
    while float(state.time) < seconds:
        state = act(env, state, "wait")
    return state


@pytest.fixture(scope="module")
def env(test_profile):
    return make_test_env(test_profile)


@pytest.fixture(scope="module")
def aoe8(test_profile):
    return make_test_env(test_profile, sim.aoe(targets=8, health_per_target=1e9))


def test_stats_from_profile(env):
    assert float(env.stats.attack_power) == pytest.approx(AP)      # Strength x 1.05 + weapon dps x 6
    assert float(env.stats.spell_power) == pytest.approx(SP)       # 96 % of attack power (1258011#1)
    assert float(env.stats.crit) == pytest.approx(0.05)
    assert float(env.stats.mastery_points) == pytest.approx(8.0)
    assert float(env.stats.weapon_dps) == pytest.approx(250.0)


def test_raid_buffs_add_battle_shout_mark_of_the_wild_and_skyfury(test_profile):
    raided = sim.make("retribution_paladin", test_profile, sim.patchwerk())
    assert float(raided.stats.attack_power) == pytest.approx(AP * 1.05)   # Battle Shout 6673
    assert float(raided.stats.versatility) == pytest.approx(0.03)        # Mark of the Wild 1126
    assert float(raided.stats.mastery_points) == pytest.approx(8.0 + 2.0)  # Skyfury 462854: +2 points
    assert float(raided.stats.strikes_per_swing) == pytest.approx(1.2)     # ... and a 20 % repeat


def test_skyfury_repeats_are_a_fifth_more_swings(test_profile):
    """Crusading Strikes with Skyfury: 20 % more strikes, and the Holy Power they give."""
    env = make_test_env(profile_with("crusading_strikes"))
    state = env.init(jax.random.key(0), env.stats.replace(strikes_per_swing=jnp.float32(1.2)))
    # Swings every 3.6 s / 1.2 = 3 s: at 0, 3, 6, 9 and 12 s by 12.5 s (5, against 4 without).
    state = wait_until(env, state, 12.5)
    assert damage(env, state, "crusading_strikes") == pytest.approx(5 * 2.34731 * AP * EC, rel=1e-5)
    assert int(state.swing_count) == 5 and float(state.resources[0]) == 2.0  # a Holy Power every 2nd


def test_crusader_strike(env):
    state = act(env, env.init(jax.random.key(0)), "crusader_strike")
    # Physical: armor; aura #14 -31 %; no mastery, no aura #11 (267316, 137027 lists).
    assert damage(env, state, "crusader_strike") == pytest.approx(1.4 * AP * 0.69 * ARMOR * EC, rel=1e-5)
    assert float(state.resources[0]) == 1.0


def test_judgment_scales_with_spell_power(env):
    state = act(env, env.init(jax.random.key(0)), "judgment")
    assert damage(env, state, "judgment") == pytest.approx(0.671596 * SP * 1.05 * 1.30 * MASTERY * EC, rel=1e-5)
    index = env.spec.debuff_names.index("judgment")
    assert float(state.debuff_remaining[0, index]) == pytest.approx(15.0 - 1.5)
    assert int(state.debuff_stacks[0, index]) == 1


def test_final_verdict_and_greater_judgment(env):
    plain = act(env, with_resources(env, env.init(jax.random.key(0)), 3), "final_verdict")
    expected = 4.04408 * AP * 1.05 * MASTERY * EC
    assert damage(env, plain, "final_verdict") == pytest.approx(expected, rel=1e-5)
    assert float(plain.resources[0]) == 0.0

    judged = act(env, env.init(jax.random.key(0)), "judgment")
    judged = act(env, with_resources(env, judged, 3), "final_verdict")
    assert damage(env, judged, "final_verdict") == pytest.approx(expected * 1.2, rel=1e-5)   # 197277#1
    # The spender used the Judgment stack.
    assert float(judged.debuff_remaining[0, env.spec.debuff_names.index("judgment")]) == 0.0


def test_highlords_wrath_two_stacks_and_mastery_again():
    env = make_test_env(profile_with("highlords_wrath"))
    state = act(env, env.init(jax.random.key(0)), "judgment")
    mastery = 1.0 + 8 * 0.0135 * 1.5   # 404512#3: mastery counts half again on Judgment
    judgment = 0.671596 * SP * 1.365 * mastery * EC
    assert damage(env, state, "judgment") == pytest.approx(judgment, rel=1e-5)
    assert int(state.debuff_stacks[0, env.spec.debuff_names.index("judgment")]) == 2
    state = act(env, with_resources(env, state, 3), "final_verdict")
    state = act(env, with_resources(env, state, 3), "final_verdict")
    assert damage(env, state, "final_verdict") == pytest.approx(2 * 4.04408 * AP * 1.05 * MASTERY * EC * 1.2,
                                                                rel=1e-5)


def test_hammer_of_wrath_only_in_wrath_and_judgment_not(env):
    state = env.init(jax.random.key(0))
    how = env.spec.action_index("hammer_of_wrath")
    assert not bool(state.legal_action_mask[how])
    # No execute phase in 12.0 (1241288#1): at 1/6 health it is still not castable.
    late = state.replace(time=jnp.float32(250.0))
    assert not bool(env.legal_action_mask(late)[how])
    state = act(env, state, "avenging_wrath")
    assert float(state.time) == 0.0  # off the GCD
    assert not bool(state.legal_action_mask[env.spec.action_index("judgment")])   # Wrath takes its button
    state = act(env, state, "hammer_of_wrath")
    assert damage(env, state, "hammer_of_wrath") == pytest.approx(1.43871 * AP * 1.05 * MASTERY * 1.2 * AW_CRIT,
                                                                  rel=1e-5)


def test_blade_of_justice_and_expurgation(env):
    state = act(env, env.init(jax.random.key(0)), "blade_of_justice")
    assert damage(env, state, "blade_of_justice") == pytest.approx(1.37769 * AP * 1.05 * MASTERY * EC, rel=1e-5)
    assert float(state.resources[0]) == 1.0
    state = wait_until(env, state, 10.0)
    # Ticks at 3, 6 and 9 s, unhasted (383346#1, aura #12).
    assert damage(env, state, "expurgation_debuff") == pytest.approx(3 * 0.2295 * AP * 1.05 * MASTERY * EC,
                                                                      rel=1e-5)


def test_blade_of_justice_consecrates_the_ground(test_profile):
    """Consecrated Blade (404834): Blade of Justice places Consecration (26573: 12 s, a tick on
    placement and one every 1 s, hasted; this character has no haste), whose ticks (81297:
    0.05 x AP, aura #11 +5 % and #15 -6 %, mastery) hit every enemy: 1 + 12 ticks."""
    env = make_test_env(test_profile, sim.aoe(targets=3, health_per_target=1e9))
    state = act(env, env.init(jax.random.key(0)), "blade_of_justice")   # placed as the cast's step ends
    assert buff(env, state, "consecration") == (12.0, 1)
    tick = 0.05 * AP * 1.05 * 0.94 * MASTERY * EC
    state = wait_until(env, state, 6.0)
    assert damage(env, state, "consecration") == pytest.approx(5 * 3 * tick, rel=1e-5)    # 1.5, 2.5, ... 5.5 s
    state = wait_until(env, state, 20.0)
    assert damage(env, state, "consecration") == pytest.approx(13 * 3 * tick, rel=1e-5)


def test_blade_talents_jurisdiction_blades_of_light_holy_blade():
    env = make_test_env(profile_with("jurisdiction,blades_of_light:2,holy_blade"))
    state = act(env, env.init(jax.random.key(0)), "blade_of_justice")
    # 402971#4 +10 %, 403664#1 +10 % per rank.
    assert damage(env, state, "blade_of_justice") == pytest.approx(
        1.37769 * AP * 1.05 * 1.1 * 1.2 * MASTERY * EC, rel=1e-5)
    assert float(state.resources[0]) == 2.0   # 383342#1


def test_art_of_war_with_light_within_empowers_the_blade_and_sends_a_wave():
    env = make_test_env(profile_with("light_within:4"), sim.aoe(targets=2, health_per_target=1e9))
    state = env.init(jax.random.key(0))
    state = state.replace(buff_remaining=state.buff_remaining.at[env.spec.buff_names.index("art_of_war")].set(10.0),
                          buff_stacks=state.buff_stacks.at[env.spec.buff_names.index("art_of_war")].set(1))
    state = act(env, state.replace(legal_action_mask=env.legal_action_mask(state)), "blade_of_justice")
    base = 1.37769 * AP * 1.05 * MASTERY * EC
    assert damage(env, state, "blade_of_justice") == pytest.approx(base * 2.5, rel=1e-5)    # 1261113#1 +150 %
    wave = 4.42557 * AP * 1.05 * MASTERY * EC
    assert damage(env, state, "light_within_wave") == pytest.approx(wave * (2.5 + 1.0), rel=1e-5)   # 1261159#1
    assert buff(env, state, "art_of_war")[0] == 0.0   # used


def test_auto_attacks(env):
    state = wait_until(env, env.init(jax.random.key(0)), 7.5)
    per_swing = AP / 6.0 * 3.6 * 5.0 * ARMOR * EC   # weapon dps + AP/6 per second of swing; aura #5 +400 %
    assert damage(env, state, "auto_attack") == pytest.approx(3 * per_swing, rel=1e-5)  # swings at 0, 3.6, 7.2


def test_crusading_strikes_replace_swings_and_give_holy_power_every_second():
    env = make_test_env(profile_with("crusading_strikes"))
    state = wait_until(env, env.init(jax.random.key(0)), 7.5)
    assert damage(env, state, "auto_attack") == 0.0
    # 408385: AP 2.34731, Holy (no armor), no aura #11, no mastery; 406834: a Holy Power every 2nd swing.
    assert damage(env, state, "crusading_strikes") == pytest.approx(3 * 2.34731 * AP * EC, rel=1e-5)
    assert float(state.resources[0]) == 1.0
    assert not bool(state.legal_action_mask[env.spec.action_index("crusader_strike")])   # replaced


def test_execution_sentence_blast_stored_damage_and_holy_power(env):
    state = act(env, env.init(jax.random.key(0)), "execution_sentence")
    assert float(state.resources[0]) == 3.0   # 406158#1 -> 408386#1
    state = act(env, state, "judgment")
    judgment = damage(env, state, "judgment")
    state = wait_until(env, state, 11.0)
    blast = 5.05312 * AP * 1.05 * MASTERY * EC   # 1260251#1
    assert damage(env, state, "execution_sentence_debuff") == pytest.approx(blast + 0.2 * judgment, rel=1e-5)


def test_wake_of_ashes_hits_every_enemy_and_burns(test_profile):
    env = make_test_env(test_profile, sim.aoe(targets=3, health_per_target=1e9))
    state = act(env, env.init(jax.random.key(0)), "wake_of_ashes")
    assert damage(env, state, "wake_of_ashes") == pytest.approx(3 * 3.2186 * AP * 1.05 * MASTERY * EC, rel=1e-5)
    assert float(state.resources[0]) == 3.0
    truths_wake = env.spec.debuff_names.index("truths_wake")
    assert [bool(x) for x in state.debuff_remaining[:, truths_wake] > 0] == [True] * 3


@pytest.mark.parametrize("targets", [4, 5, 8])
def test_divine_storm_soft_cap(test_profile, targets):
    env = make_test_env(test_profile, sim.aoe(targets=targets, health_per_target=1e9))
    state = act(env, with_resources(env, env.init(jax.random.key(0)), 3), "divine_storm")
    reduction = math.sqrt(5 / targets) if targets > 5 else 1.0
    expected = targets * 1.8931 * AP * 1.05 * MASTERY * EC * reduction
    assert damage(env, state, "divine_storm") == pytest.approx(expected, rel=1e-5)


def test_divine_toll_hits_five_and_gives_holy_power(aoe8):
    state = act(aoe8, aoe8.init(jax.random.key(0)), "divine_toll")
    # Each hit is a Judgment at +100 % (375576#6) with its own Holy Power.
    expected = 5 * 0.671596 * SP * 1.05 * 1.30 * 2.0 * MASTERY * EC
    assert damage(aoe8, state, "divine_toll_judgment") == pytest.approx(expected, rel=1e-5)
    assert float(state.resources[0]) == 5.0
    judged = state.debuff_remaining[:, aoe8.spec.debuff_names.index("judgment")] > 0
    assert [bool(x) for x in judged] == [True] * 5 + [False] * 3


def test_quickened_invocation_halves_divine_toll():
    env = make_test_env(profile_with("quickened_invocation"))
    assert float(env.spec.tables.cooldown[env.spec.ability_names.index("divine_toll")]) == 30.0   # 379391#1, aura #22


def test_crusade_haste_grows_with_holy_power_spent():
    env = make_test_env(profile_with("crusade"))
    state = act(env, env.init(jax.random.key(0)), "avenging_wrath")
    assert buff(env, state, "avenging_wrath")[1] == 1
    state = act(env, with_resources(env, state, 3), "final_verdict")
    assert buff(env, state, "avenging_wrath")[1] == 4   # a stack per Holy Power spent (1253598)
    assert float(sim.engine.haste_factor(state, env.spec)) == pytest.approx(1.0 + 0.03 + 4 * 0.02)


def test_templar_hammer_of_light_after_wake():
    env = make_test_env(profile_with("lights_guidance,zealous_vindication"), sim.aoe(targets=3, health_per_target=1e9))
    state = env.init(jax.random.key(0))
    hammer = env.spec.action_index("hammer_of_light")
    assert not bool(with_resources(env, state, 5).legal_action_mask[hammer])
    state = act(env, state, "wake_of_ashes")
    assert not bool(state.legal_action_mask[env.spec.action_index("wake_of_ashes")] )   # the button is HoL now
    state = act(env, with_resources(env, state, 5), "hammer_of_light")
    assert float(state.resources[0]) == 0.0   # 5 Holy Power
    assert damage(env, state, "hammer_of_light") == pytest.approx(6.96774 * AP * 1.05 * 2.13 * MASTERY * EC,
                                                                  rel=1e-5)   # aura #11, #18
    cleave = 2 * 3.48 * AP * 1.05 * 2.41 * MASTERY * EC   # the two other enemies, aura #19
    assert damage(env, state, "hammer_of_light_cleave") == pytest.approx(cleave, rel=1e-5)
    hammer_hit = 0.4655 * AP * 1.05 * MASTERY * EC
    assert damage(env, state, "empyrean_hammer") == pytest.approx(3 * hammer_hit, rel=1e-5)   # 427445#2
    assert damage(env, state, "empyrean_hammer_on_target") == pytest.approx(2 * hammer_hit, rel=1e-5)   # 431463


def test_set_bonuses_empower_and_spread_expurgation():
    character = parse_profile(TEST_PROFILE + "set_bonus=midnight_season_1_2pc=1\nset_bonus=midnight_season_1_4pc=1\n",
                              "tier.simc")
    env = make_test_env(character)
    state = act(env, with_resources(env, env.init(jax.random.key(0)), 3), "final_verdict")
    expurgation = env.spec.debuff_names.index("expurgation")
    assert float(state.debuff_remaining[0, expurgation]) > 0   # 1264849: Final Verdict applies it
    state = wait_until(env, state, 10.0)
    ticks = 3 * 0.2295 * AP * 1.05 * 1.2 * MASTERY * EC   # 1264848#1 +20 %
    assert damage(env, state, "expurgation_debuff") == pytest.approx(ticks, rel=1e-5)


def test_herald_dawnlight_from_wake_on_the_next_spenders():
    env = make_test_env(profile_with("dawnlight"))
    state = act(env, env.init(jax.random.key(0)), "wake_of_ashes")
    assert buff(env, state, "dawnlight")[1] == 3   # 431377#1 + aura #26
    state = act(env, with_resources(env, state, 3), "final_verdict")
    assert buff(env, state, "dawnlight")[1] == 2
    dawnlight = env.spec.debuff_names.index("dawnlight")
    assert float(state.debuff_remaining[0, dawnlight]) > 0
    before = damage(env, state, "dawnlight_debuff")
    state = wait_until(env, state, float(state.time) + 8.5)
    tick = 0.6375 * SP * 1.05 * 2.93 * MASTERY * EC   # 431380#1, aura #12 and #16
    assert damage(env, state, "dawnlight_debuff") - before == pytest.approx(4 * tick, rel=1e-5)


def test_bloodlust_at_the_pull_and_a_potion():
    character = parse_profile(TEST_PROFILE + "potion=lights_potential_2\n", "potion.simc")
    env = sim.make("retribution_paladin", character, sim.patchwerk(), expected_value=True, raid_buffs=False)
    state = act(env, env.init(jax.random.key(0)), "wait")
    assert float(sim.engine.haste_factor(state, env.spec)) == pytest.approx(1.3)   # 2825
    state = act(env, state, "potion")
    ap, _ = sim.engine.attack_power(state, env.spec)
    assert float(ap) == pytest.approx(AP + 695.0 * 1.05)   # 1236616: +695 Strength


def test_target_choice_aims_judgment_and_the_spender(test_profile):
    env = make_test_env(test_profile, sim.aoe(targets=3, health_per_target=1e9))
    state = act(env, env.init(jax.random.key(0)), "judgment@2")
    judgment = env.spec.debuff_names.index("judgment")
    assert [bool(x) for x in state.debuff_remaining[:, judgment] > 0] == [False, False, True]
    plain = act(env, with_resources(env, state, 3), "final_verdict@0")
    aimed = act(env, with_resources(env, state, 3), "final_verdict@2")
    verdict = 4.04408 * AP * 1.05 * MASTERY * EC
    assert damage(env, plain, "final_verdict") == pytest.approx(verdict, rel=1e-5)
    assert damage(env, aimed, "final_verdict") == pytest.approx(verdict * 1.2, rel=1e-5)
    assert int(aimed.target) == 2


def test_random_mode_crits_at_the_crit_rate(test_profile):
    env = make_test_env(test_profile, expected_value=False)
    fv = env.spec.action_index("final_verdict")

    def one(key):
        state = with_resources(env, env.init(key), 3)
        return env.step(state, fv).damage_by_source[env.spec.source_names.index("final_verdict")]

    hits = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), 4000))
    base = 4.04408 * AP * 1.05 * MASTERY
    crit = jnp.isclose(hits, 2 * base, rtol=1e-5)
    assert bool(jnp.all(crit | jnp.isclose(hits, base, rtol=1e-5)))
    assert 0.035 < float(crit.mean()) < 0.065  # 5 % crit, 4000 draws


def test_same_casts_see_the_same_crits_whatever_came_before(test_profile):
    """Event-keyed random numbers: the first Final Verdict of a fight rolls the same crit whether
    or not the player waited first (step-keyed draws would differ)."""
    env = make_test_env(test_profile, expected_value=False)
    fv, wait = env.spec.action_index("final_verdict"), env.wait_action
    source = env.spec.source_names.index("final_verdict")

    def branches(key):
        start = with_resources(env, env.init(key), 3)
        direct = env.step(start, fv)
        waited = env.step(with_resources(env, env.step(start, wait), 3), fv)
        return direct.damage_by_source[source], waited.damage_by_source[source]

    direct, waited = jax.jit(jax.vmap(branches))(jax.random.split(jax.random.key(2), 300))
    assert bool(jnp.any(direct != direct[0]))   # crits happen at all
    assert bool(jnp.allclose(direct, waited, rtol=1e-6))
