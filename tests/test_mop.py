"""Mists of Pandaria Classic Retribution (issue 17, item 5): the second spec table.

Known answers are written out from wowsims/mop's formulas (docs/mop-classic.md), not read
from the spec file: a (hit) = weapon share x normalized weapon hit + flat part, where a
normalized hit is (weapon dps + AP / 14) x 3.3 s, and AP = 2 x Strength + 250.
"""

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

import sim
from portunus.errors import InputError
from portunus.profile import load_profile, parse_profile
from tests.conftest import act

S = 1029.4934                     # level-90 paladin class scaling (wowsims core)
MOP_PROFILE = """
paladin="Mister"
game=mop_classic
level=90
spec=retribution
talents={talents}
glyphs=mass_exorcism
gear_strength=1836
gear_crit_rating=0
gear_haste_rating=0
gear_mastery_rating=0
gear_hit_rating=2550
gear_expertise_rating=2550
main_hand=,id=1,weapon=2h_3.60speed_3000min_4200max
"""
STRENGTH = (164 + 1836) * 1.05                  # Plate Specialization
AP = 2 * STRENGTH + 250                         # 4450
WEAPON = 3600 / 3.6                             # dps 1000
NORMALIZED = (WEAPON + AP / 14) * 3.3           # a normalized two-hander hit
ARMOR = 1 - 0.3209                              # a level 93 boss under Weakened Armor
PHYSICAL, MAGIC = 1.04, 1.05                    # Physical Vulnerability, Curse of the Elements
EC = 1 + 0.0502                                 # expected crit at base crit, x2
HAND_OF_LIGHT = 1 + 8 * 0.0185 * 1.05           # 8 base mastery points


def mop_profile(talents="221223"):
    return parse_profile(MOP_PROFILE.format(talents=talents), "mop.simc")


def damage(env, state, source):
    return float(state.damage_by_source[env.spec.source_names.index(source)])


@pytest.fixture(scope="module")
def env():
    fight = dataclasses.replace(sim.patchwerk(bloodlust_at=None), bloodlust_at=None)
    return sim.make(None, mop_profile(), fight, expected_value=True, raid_buffs=False)


def test_profile_picks_the_mists_spec_and_its_talents(env):
    assert mop_profile().spec_key == "retribution_paladin_mop"
    assert env.spec.name == "retribution_paladin_mop"
    talents = env.spec.talents
    assert talents["sanctified_wrath"] and talents["execution_sentence"] and talents["glyph_mass_exorcism"]
    assert "divine_purpose" not in talents and "holy_avenger" not in talents
    assert float(env.stats.attack_power) == pytest.approx(AP)
    assert float(env.stats.spell_power) == pytest.approx(AP / 2)          # Sword of Light
    assert float(env.stats.weapon_dps) == pytest.approx(WEAPON)
    assert float(env.fight_tables.armor_reduction) == pytest.approx(0.3209)
    assert float(env.fight_tables.magic_taken) == pytest.approx(MAGIC)


def test_shipped_character_matches_the_wowsims_test_character():
    """The shipped profile's gear totals reproduce wowsims's character-stats result."""
    env = sim.make(None, load_profile("retribution_paladin_mop"))
    assert float(env.stats.attack_power) == pytest.approx(43640.5145, rel=1e-5)
    assert float(env.stats.crit) == pytest.approx(0.151163, abs=1e-4)
    assert float(env.stats.mastery_points) == pytest.approx(8 + 7329 / 600, rel=1e-5)
    assert float(env.stats.haste) == pytest.approx((1 + 9282 / 42500) * 1.1 - 1, rel=1e-5)
    assert float(env.stats.weapon_dps) == pytest.approx((15649 + 23474) / 2 / 3.6)


def test_crusader_strike_is_weapon_damage_plus_a_flat_part(env):
    state = act(env, env.init(jax.random.key(0)), "crusader_strike")
    expected = (1.25 * NORMALIZED + 0.554 * S) * 1.3 * 1.2 * ARMOR * PHYSICAL * HAND_OF_LIGHT * EC
    assert damage(env, state, "crusader_strike") == pytest.approx(expected, rel=1e-4)
    assert float(state.resources[0]) == 2.0           # starts at 1, +1
    # Seal of Truth: 12 % of a (not normalized) weapon hit, Holy, Sword of Light +30 %, on the
    # strike and on the swing at the pull.
    seal = 0.12 * (WEAPON + AP / 14) * 3.6 * 1.3 * MAGIC * EC
    assert int(state.swing_count) == 1
    assert damage(env, state, "seal_of_truth") == pytest.approx(2 * seal, rel=2e-3)


def test_judgment_and_exorcism_scale_with_attack_power_and_class_scaling(env):
    state = act(env, env.init(jax.random.key(0)), "judgment")
    judgment = (0.546 * S + 0.328 * AP + 0.546 * AP / 2) * 1.3 * 1.2 * MAGIC * EC
    assert damage(env, state, "judgment") == pytest.approx(judgment, rel=1e-4)
    state = act(env, state, "exorcism")
    exorcism = (6.095 * S + 0.677 * AP) * 1.2 * MAGIC * EC   # no Sword of Light, no mastery
    assert damage(env, state, "exorcism") == pytest.approx(exorcism, rel=1e-4)


def test_censure_ticks_once_per_stack(env):
    """Two Seal of Truth hits make two stacks; a tick deals its value once per stack."""
    state = act(env, env.init(jax.random.key(0)), "crusader_strike")   # stack 1 at 0 s
    state = act(env, state, "judgment")                                 # stack 2 at 1.5 s
    assert int(state.debuff_stacks[0, env.spec.debuff_names.index("censure")]) == 2
    while float(state.time) < 3.2:                                      # the first tick at 3 s
        state = act(env, state, "wait")
    per_stack = (0.094 * S + 0.094 * AP / 2) * MAGIC * EC
    assert damage(env, state, "censure_debuff") == pytest.approx(2 * per_stack, rel=2e-3)


def test_templars_verdict_spends_three_and_inquisition_raises_holy_damage(env):
    state = env.init(jax.random.key(0))
    state = state.replace(resources=state.resources.at[0].set(5.0))
    state = state.replace(legal_action_mask=env.legal_action_mask(state))
    state = act(env, state, "templars_verdict")
    verdict = (2.75 * NORMALIZED + 0.55 * S) * 1.3 * 1.27 * ARMOR * PHYSICAL * HAND_OF_LIGHT * EC
    assert damage(env, state, "templars_verdict") == pytest.approx(verdict, rel=1e-4)
    assert float(state.resources[0]) == 2.0
    state = state.replace(resources=state.resources.at[0].set(3.0))
    state = state.replace(legal_action_mask=env.legal_action_mask(state))
    state = act(env, state, "inquisition")
    before = damage(env, state, "judgment")
    state = act(env, state, "judgment")
    crit = 1 + 0.0502 + 0.10                                              # Inquisition: +10 % crit
    judgment = (0.546 * S + 0.328 * AP + 0.546 * AP / 2) * 1.3 * 1.2 * 1.3 * MAGIC * crit
    assert damage(env, state, "judgment") - before == pytest.approx(judgment, rel=1e-4)


def test_hammer_of_wrath_needs_wrath_or_execute(env):
    state = env.init(jax.random.key(0))
    assert not bool(state.legal_action_mask[env.spec.action_index("hammer_of_wrath")])
    state = act(env, state, "avenging_wrath")
    assert bool(state.legal_action_mask[env.spec.action_index("hammer_of_wrath")])
    wrath = env.spec.buff_names.index("avenging_wrath")
    assert float(state.buff_remaining[wrath]) == pytest.approx(30.0)      # Sanctified Wrath: +50 %
    state = act(env, state, "hammer_of_wrath")
    hammer = env.spec.ability_names.index("hammer_of_wrath")
    assert float(state.recharge[hammer]) == pytest.approx(6.0 / 2 - 1.5)  # halved in Wrath, then a GCD


def test_sanctified_wrath_halving_follows_haste():
    """The halving takes half of the *hasted* cooldown: 6 s / 1.5 haste / 2 = 2 s off, not 3."""
    hasted = parse_profile(MOP_PROFILE.format(talents="221223").replace("gear_haste_rating=0",
                                                                          "gear_haste_rating=21250"), "h.simc")
    env = sim.make(None, hasted, sim.patchwerk(bloodlust_at=None), expected_value=True, raid_buffs=False)
    assert float(env.stats.haste) == pytest.approx(0.5)
    state = act(env, act(env, env.init(jax.random.key(0)), "avenging_wrath"), "hammer_of_wrath")
    hammer = env.spec.ability_names.index("hammer_of_wrath")
    assert float(state.recharge[hammer]) == pytest.approx(4.0 - 2.0 - 1.0, abs=1e-4)   # GCD 1.5 / 1.5
    plain = sim.make(None, mop_profile("221213"), sim.patchwerk(bloodlust_at=None), expected_value=True,
                     raid_buffs=False)
    state = act(plain, act(plain, plain.init(jax.random.key(0)), "avenging_wrath"), "hammer_of_wrath")
    assert float(state.recharge[hammer]) == pytest.approx(6.0 - 1.5)         # no talent: the full cooldown


def test_talents_as_digits_or_names_and_bad_talents():
    tiers = sim.load_spec("retribution_paladin_mop").settings["talent_tiers"]
    env = sim.make(None, mop_profile("000031"), sim.patchwerk())
    assert env.spec.talents.get("divine_purpose") and env.spec.talents.get("holy_prism")
    env = sim.make(None, mop_profile("holy avenger, light's hammer"), sim.patchwerk())
    assert env.spec.talents.get("holy_avenger") and env.spec.talents.get("lights_hammer")
    assert len(tiers) == 6
    with pytest.raises(InputError, match="6 digits 0-3"):
        sim.make(None, mop_profile("2214"), sim.patchwerk())
    with pytest.raises(InputError, match="same tier"):
        sim.make(None, mop_profile("holy_avenger,divine_purpose"), sim.patchwerk())
    with pytest.raises(InputError, match="unknown talent 'holy_avengr'.*holy_avenger"):
        sim.make(None, mop_profile("holy_avengr"), sim.patchwerk())


def test_game_line_and_spec_mismatch_are_clear_errors():
    with pytest.raises(InputError, match="game must be one of retail, mop_classic"):
        parse_profile(MOP_PROFILE.format(talents="221223").replace("mop_classic", "wotlk"), "x.simc")
    with pytest.raises(InputError, match="spec file retribution_paladin_mop.*spec is retribution_paladin"):
        sim.make("retribution_paladin", mop_profile())


def test_default_apl_keeps_inquisition_up_and_spends_on_verdict():
    from sim.apl import load_apl
    from sim.rollout import rollout

    env = sim.make(None, load_profile("retribution_paladin_mop"), sim.patchwerk(duration=60.0))
    final = rollout(env, load_apl(env, warn=None), jax.random.key(1), 4)
    casts = {name: float(final.casts[:, i].mean()) for i, name in enumerate(env.spec.ability_names)}
    assert casts["inquisition"] >= 1 and casts["templars_verdict"] >= 6 and casts["crusader_strike"] >= 6
    assert casts["hammer_of_wrath"] >= 6             # in Avenging Wrath and the last 20 %
    assert casts["avenging_wrath"] == 1 and casts["guardian_of_ancient_kings"] == 1
    assert bool(final.terminated.all())


def test_challenge_mode_route_is_timed_by_its_gold_medal():
    route = sim.load_route("scarlet_monastery_cm")
    assert route.time_limit == 780.0
    bosses = np.array(route.pull_is_boss, bool)
    assert bosses.sum() == 3 and int((route.pull_health[~bosses] > 0).sum()) == 40
    env = sim.make(None, load_profile("retribution_paladin_mop"), route)
    assert float(env.fight_tables.armor_reduction) == pytest.approx(0.3209)   # the game's enemies



@pytest.mark.parametrize("project, spec_name", [(1, "retribution_paladin"), (19, "retribution_paladin_mop"),
                                                (None, "retribution_paladin")])
def test_addon_registers_the_table_of_its_client(project, spec_name):
    """Both games call Retribution spec 70: each client loads its own table only."""
    from tests.addon_harness import Addon

    addon = Addon(project=project)
    table = addon.ns.specs[70]
    assert table.name == spec_name
    names = [table.abilities[i + 1].name for i in range(len(table.abilities))]
    assert names == list(sim.load_spec(spec_name).ability_names)


def test_a_mists_snapshot_round_trips_and_the_service_plans_it():
    """The full design on Mists: nothing secret, so a snapshot carries the state exactly;
    it goes over the wire and the planning service (configured with the Mists character)
    answers with an ability of that kit."""
    from portunus.protocol import decode_frame, encode_frame
    from portunus.service.engine import EngineConfig, PlanningEngine
    from sim.apl import load_apl
    from sim.snapshot import from_snapshot, live_env, to_snapshot

    profile = load_profile("retribution_paladin_mop")
    env = live_env(profile=profile)
    assert env.spec.name == "retribution_paladin_mop"
    apl = jax.jit(load_apl(env, warn=None))
    step = jax.jit(env.step)
    state = env.init(jax.random.key(3))
    for _ in range(12):
        state = step(state, apl(state))
    snapshot = decode_frame(encode_frame(to_snapshot(env, state, frame=7)))
    rebuilt = from_snapshot(env, snapshot)
    np.testing.assert_allclose(np.asarray(rebuilt.resources), np.asarray(state.resources))
    np.testing.assert_allclose(np.asarray(rebuilt.charges), np.asarray(state.charges))
    np.testing.assert_allclose(np.asarray(rebuilt.buff_remaining), np.asarray(state.buff_remaining), atol=0.01)
    text = (Path(__file__).resolve().parent.parent / "portunus" / "profiles" / "retribution_paladin_mop.simc")
    engine = PlanningEngine(EngineConfig(policy="apl", batch_sizes=(1,), profile_text=text.read_text(),
                                         checkpoint="none"))
    assert engine.env.spec.name == "retribution_paladin_mop"
    answer = engine.plan([engine.state(snapshot)], depth=0)[0]
    assert answer["best_action"] == env.spec.action_names[int(apl(rebuilt))]   # the APL on that state


def test_shipped_characters_resolve_by_name_for_every_command():
    """`--profile retribution_paladin_mop` names the shipped file (serve reads the text itself)."""
    from portunus.profile import PROFILE_DIR, profile_path

    assert profile_path("retribution_paladin_mop") == PROFILE_DIR / "retribution_paladin_mop.simc"
    assert profile_path(None).name == "retribution_paladin_default.simc"
    assert profile_path("no/such/file.simc") == Path("no/such/file.simc")   # left for the reader's error


def test_paired_evaluation_plays_the_mists_character_with_its_own_kit():
    from train.evaluate import evaluate

    (result,) = evaluate({}, fights=["patchwerk:30"], episodes=2, profile=load_profile("retribution_paladin_mop"))
    assert result.results["apl"]["dps"]["n"] == 2 and result.results["apl"]["dps"]["mean"] > 50_000


@pytest.mark.parametrize("old, new, message", [
    ("armor_reduction = 0.3209", "armor_reduction = nan", "[enemy] armor_reduction must be a number 0..0.95"),
    ("armor_reduction = 0.3209", "armor_reduction = 1.5", "[enemy] armor_reduction must be a number 0..0.95"),
    ("haste_multiplier = 1.10 ", "haste_multiplier = -1.0 ", "[raid_buffs] haste_multiplier must be a number"),
    ("mastery_rating = 3000.0", 'mastery_rating = "lots"', "[raid_buffs] mastery_rating must be a number"),
    ("crit = 0.05 ", "critical = 0.05 ", "[raid_buffs] unknown key 'critical'"),
    ("attack_power_per_weapon_dps = 14.0", "attack_power_per_weapon_dps = 0.0",
     "[spec] attack_power_per_weapon_dps must be a number 0.1..100"),
    ("base_attack_power = 250.0", "base_attack_power = inf", "[spec] base_attack_power must be a number"),
    ('game = "mop_classic"', 'game = "wotlk"', "[spec] game must be one of retail, mop_classic"),
    ("normalized_speed = 3.3 ", "normalized_speed = 1e9 ", "[auto_attack] normalized_speed must be a number 0.5..10"),
    ("secondary_diminishing_returns = false", 'secondary_diminishing_returns = "no"',
     "[spec] secondary_diminishing_returns must be true or false"),
    ('talent_tiers = [\n  ["speed_of_light"', 'talent_tiers = [\n  [1, "x"], ["speed_of_light"',
     "[spec] talent_tiers must be a list of tiers"),
    ("nominal_dps = 150000.0", "nominal_dps = 150000.0\nsteady_rate_by_targets = [1.2, -2.0]",
     "[spec] steady_rate_by_targets must be a number 0.01..100, got -2.0"),
    ("nominal_dps = 150000.0", 'nominal_dps = 150000.0\nsteady_rate_by_targets = "fast"',
     "[spec] steady_rate_by_targets must be a list of 1-64 numbers"),
])
def test_bad_game_settings_are_one_line_errors_naming_the_key(old, new, message):
    from sim.spec import compile_spec

    text = (Path(sim.__file__).parent / "specs" / "retribution_paladin_mop.toml").read_text()
    assert old in text
    with pytest.raises(InputError) as error:
        compile_spec(text.replace(old, new), "mop.toml")
    assert message in str(error.value) and "\n" not in str(error.value)
