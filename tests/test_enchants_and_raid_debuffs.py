"""Hunter's Mark (SimC's default raid debuff) and the Midnight ring and weapon enchants, by
hand from the spell data: 259556#1 +3 % damage taken (every school), 1236701#1 +1.25 % crit
damage per ring (Eyes of the Eagle), 1236742#1 66.80 Strength for 15 s at RPPM 3 (Acuity of
the Ren'dorei, as its average uptime 1 - exp(-0.75))."""

import dataclasses
import math

import jax
import pytest

import sim
from portunus.errors import InputError
from portunus.profile import parse_profile
from sim.stats import loadout, profile_stats
from tests.conftest import (
    ATTACK_POWER as AP, MASTERY, SPELL_POWER as SP, TEST_PROFILE, act, make_test_env, profile_with,
)

RINGS = ("finger1=eye_of_midnight,id=249920,enchant_id=7967\n"
         "finger2=purloined_wedding_ring,id=49812,enchant_id=7967\n")


def enchanted(extra: str):
    return parse_profile(TEST_PROFILE + extra, "test.simc")


def test_hunters_mark_joins_mystic_touch_and_chaos_brand():
    on = sim.make("retribution_paladin", profile_with(), sim.patchwerk()).fight_tables
    off = sim.make("retribution_paladin", profile_with(),
                   dataclasses.replace(sim.patchwerk(), raid_debuffs=False)).fight_tables
    assert float(on.physical_taken) == pytest.approx(1.05 * 1.03)   # Mystic Touch 113746#1, Hunter's Mark
    assert float(on.magic_taken) == pytest.approx(1.03 * 1.03)      # Chaos Brand 1490#1, Hunter's Mark
    assert float(off.physical_taken) == 1.0 and float(off.magic_taken) == 1.0


def test_hunters_mark_raises_a_spell_by_three_percent(test_profile):
    fight = sim.patchwerk(bloodlust_at=None)
    plain = make_test_env(test_profile, fight)
    raided = sim.make("retribution_paladin", test_profile, dataclasses.replace(fight, raid_debuffs=True),
                      expected_value=True, raid_buffs=False)
    source = plain.spec.source_names.index("judgment")
    a = act(plain, plain.init(jax.random.key(0)), "judgment").damage_by_source[source]
    b = act(raided, raided.init(jax.random.key(0)), "judgment").damage_by_source[source]
    assert float(b / a) == pytest.approx(1.03 * 1.03, rel=1e-5)   # Chaos Brand and Hunter's Mark on magic


def test_eyes_of_the_eagle_scales_every_crit_per_ring():
    profile = enchanted(RINGS)
    assert float(profile_stats(sim.load_spec("retribution_paladin"), profile).crit_damage_scale) == (
        pytest.approx(1.0125 ** 2))
    env = make_test_env(profile)
    state = act(env, env.init(jax.random.key(0)), "judgment")
    crit = 1.0 + 0.05 * (2.0 * 1.0125 ** 2 - 1.0)   # expected value at 5 % crit, x2 x 1.0125 per ring
    expected = 0.671596 * SP * 1.05 * 1.30 * MASTERY * crit
    assert float(state.damage_by_source[env.spec.source_names.index("judgment")]) == pytest.approx(expected, rel=1e-5)


def test_acuity_of_the_rendorei_adds_its_average_strength():
    plain = profile_stats(sim.load_spec("retribution_paladin"), profile_with(), raid_buffs=False)
    text = TEST_PROFILE.replace("main_hand=,id=1,weapon=", "main_hand=,id=1,enchant_id=8039,weapon=")
    stats = profile_stats(sim.load_spec("retribution_paladin"), parse_profile(text, "test.simc"), raid_buffs=False)
    strength = 66.80006 * (1.0 - math.exp(-3.0 * 15.0 / 60.0))   # 1236742#1 x uptime at RPPM 3, 15 s
    assert float(stats.attack_power - plain.attack_power) == pytest.approx(strength * 1.05, abs=0.1)
    assert float(plain.attack_power) == pytest.approx(AP)


def test_unknown_enchant_is_a_note_and_a_bad_one_an_error():
    spec = sim.load_spec("retribution_paladin")
    _, _, notes = loadout(spec.settings, enchanted("finger1=some_ring,id=5,enchant_id=424242\n"))
    assert any("finger1 enchant 424242" in note for note in notes)
    with pytest.raises(InputError, match="finger1: enchant_id must be a number, got 'abc'"):
        profile_stats(spec, enchanted("finger1=some_ring,id=5,enchant_id=abc\n"))


def test_shipped_characters_carry_their_enchants():
    from portunus.profile import load_profile, profile_path
    for name in ("retribution_paladin_default", "retribution_paladin_herald"):
        stats = profile_stats(sim.load_spec("retribution_paladin"), load_profile(profile_path(name)))
        assert float(stats.crit_damage_scale) == pytest.approx(1.0125 ** 2)


def test_eyes_of_the_eagle_scales_ticks_and_swings_too(test_profile):
    """The periodic and auto-attack paths read the same crit multiplier as casts do."""
    def play(profile):
        env = make_test_env(profile)
        state = act(env, env.init(jax.random.key(0)), "blade_of_justice")
        while float(state.time) < 10.0:
            state = act(env, state, "wait")
        return env, state

    plain_env, plain = play(test_profile)
    env, enchanted_state = play(enchanted(RINGS))
    ratio = (1.0 + 0.05 * (2.0 * 1.0125 ** 2 - 1.0)) / (1.0 + 0.05 * (2.0 - 1.0))
    for source in ("expurgation_debuff", "auto_attack"):
        index = env.spec.source_names.index(source)
        assert float(plain.damage_by_source[index]) > 0
        assert float(enchanted_state.damage_by_source[index] / plain.damage_by_source[index]) == pytest.approx(
            ratio, rel=1e-5), source
