"""SimC's own APL language features: the precombat list, variable ops, SimC names that
Portunus skips (one warning line), SimC aliases, items and trinket expressions, route facts
as raid events, and target_if. The APL lines here are written for these tests in SimC's
structure; SimC's own file is not part of the suite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from typer.testing import CliRunner

import sim
from portunus.cli import app
from portunus.errors import InputError
from portunus.profile import parse_profile
from sim.apl import Apl, AplError, load_apl, parse_expression
from sim.apl.expressions import NameResolver, compile_expression, make_context
from sim.apl.kit import ALIASES_KEY, Kit
from sim.rollout import rollout
from sim.spec import compile_spec
from sim.stats import loadout
from tests.conftest import BASE_TALENTS, TEST_PROFILE

# What the spec file maps from SimC's names (the key the spec file carries, added here when
# the shipped file does not have it yet).
ALIASES = f'{ALIASES_KEY} = {{ templars_verdict = "final_verdict", execution_sentence_debuff = "execution_sentence" }}'
ITEMS = """
trinket1=umbral_plume,id=260235,ilevel=289
trinket2=algethar_puzzle_box,id=193701,ilevel=289
potion=lights_potential_2
external_buffs=power_infusion
"""
PROFILE = parse_profile(TEST_PROFILE.replace(BASE_TALENTS, BASE_TALENTS + ",lights_guidance") + ITEMS, "items.simc")


def make_env(fight, profile=PROFILE):
    """The shipped spec for `profile` (talents and items), with SimC's names mapped."""
    base = sim.load_spec("retribution_paladin")
    talents, items, _ = loadout(base.settings, profile)
    text = Path(base.path).read_text(encoding="utf-8")
    if ALIASES_KEY not in base.settings:
        text = text.replace("[spec]\n", f"[spec]\n{ALIASES}\n", 1)
    spec = compile_spec(text, base.path, talents, items)
    return sim.make(spec, profile, fight, expected_value=True)


@pytest.fixture(scope="module")
def env():
    return make_env(sim.patchwerk(duration=120.0))


@pytest.fixture(scope="module")
def aoe_env():
    return make_env(sim.aoe(targets=3, health_per_target=1e6))


@pytest.fixture(scope="module")
def route_env():
    return make_env(sim.load_route("short_test"))


def fresh(env, **changes):
    state = env.init(jax.random.key(0)).replace(**changes)
    return state.replace(legal_action_mask=env.legal_action_mask(state))


def pick(env, text, state, profile=PROFILE):
    """The action name the APL picks (evaluated eagerly: no compile per APL)."""
    return env.spec.action_names[int(Apl(text, env, "t.simc", profile)(state))]


def value(env, text, state, profile=PROFILE):
    resolver = NameResolver(env, set(), "<test>", Kit(env, profile))
    return float(compile_expression(parse_expression(text), resolver, 1)(make_context(env, state)))


# ------------------------------------------------------------------ precombat and variables
def test_precombat_sets_constants_and_uses_items_only_at_the_pull(env):
    text = """
actions.precombat=snapshot_stats
actions.precombat+=/variable,name=t2_buffs,value=trinket.2.has_buff.mastery|trinket.2.has_buff.strength
actions.precombat+=/variable,name=t2_sync,op=setif,value=1,value_else=0.5,condition=variable.t2_buffs&(trinket.2.cooldown.duration%%cooldown.avenging_wrath.duration=0)
actions.precombat+=/use_item,name=algethar_puzzle_box
actions.precombat+=/potion
actions=auto_attack
actions+=/judgment,if=variable.t2_sync=1&time>0
actions+=/blade_of_justice
"""
    apl = Apl(text, env, "t.simc", PROFILE)
    assert apl.initial["t2_buffs"] == 1.0 and apl.initial["t2_sync"] == 1.0  # 120 s box, 60 s Wrath
    start = fresh(env)
    assert env.spec.action_names[int(apl(start))] == "trinket2"
    used = fresh(env, charges=start.charges.at[env.spec.ability_names.index("trinket2")].set(0))
    assert env.spec.action_names[int(apl(used))] == "potion"
    later = fresh(env, time=jnp.float32(1.0))
    assert env.spec.action_names[int(apl(later))].startswith("judgment")  # precombat is over
    assert apl.skipped == ("snapshot_stats",)


def test_variable_ops_setif_reset_and_default(env):
    state = fresh(env)
    text = """
actions=variable,name=x,default=3,op=reset
actions+=/variable,name=x,op=add,value=4
actions+=/variable,name=x,op=mod,value=4
actions+=/variable,name=y,op=setif,condition=variable.x=3,value=10,value_else=20
actions+=/variable,name=y,op=pow,value=2
actions+=/variable,name=z,value=7.6
actions+=/variable,name=z,op=floor
actions+=/blade_of_justice,if=variable.x=3&variable.y=100&variable.z=7
actions+=/judgment
"""
    assert pick(env, text, state) == "blade_of_justice@0"
    assert pick(env, text.replace("default=3", "default=0"), state) == "judgment@0"
    with pytest.raises(AplError, match="op=setif needs condition="):
        Apl("actions=variable,name=y,op=setif,value=1,value_else=2", env)
    with pytest.raises(AplError, match="default= must be a number") as caught:
        Apl("actions=variable,name=y,op=reset,default=time", env)
    assert caught.value.token == "time"


# ------------------------------------------------------------------ what is skipped, what is an error
def test_simc_actions_portunus_does_not_model_are_skipped_with_one_warning_line(env, tmp_path):
    text = """
actions.precombat=flask
actions=auto_attack
actions+=/rebuke
actions+=/call_action_list,name=cooldowns
actions+=/blade_of_justice,if=!buff.divine_arbiter_verdict.up&raid_event.movement.in>10
actions.cooldowns=fireblood,if=buff.avenging_wrath.up
actions.cooldowns+=/lights_judgment
actions.cooldowns+=/use_item,name=unknown_trinket
actions.cooldowns+=/avenging_wrath,line_cd=30
"""
    path = tmp_path / "simc.simc"
    path.write_text(text)
    lines = []
    apl = load_apl(env, path, PROFILE, warn=lines.append)
    assert apl.skipped == ("flask", "rebuke", "fireblood", "lights_judgment",
                           "use_item,name=unknown_trinket (not equipped)", "avenging_wrath,line_cd=",
                           "buff.divine_arbiter_verdict", "raid_event.movement")
    assert lines == [apl.warning] and "\n" not in apl.warning
    assert apl.warning.startswith(f"{path}: skipped, not modelled by Portunus: flask, rebuke")
    assert pick(env, text, fresh(env)) == "avenging_wrath"


@pytest.mark.parametrize("text, message, column, token", [
    ("actions=rebuk", "unknown ability 'rebuk' (did you mean 'rebuke'?): not an ability of", 9, "rebuk"),
    ("actions=judgment,if=buff.divine_arbiter_verdct.up", "unknown buff 'divine_arbiter_verdct'", 21,
     "buff.divine_arbiter_verdct.up"),
    ("actions=judgment,if=talent.radiant_glorry", "unknown talent 'radiant_glorry' (did you mean "
     "'talent.radiant_glory'?)", 21, "talent.radiant_glorry"),
    ("actions=judgment,if=raid_event.ads.in>5", "unknown raid event", 21, "raid_event.ads.in"),
    ("actions=judgment,if=raid_event.adds.inn>5", "unknown expression 'raid_event.adds.inn'", 21,
     "raid_event.adds.inn"),
    ("actions=judgment,if=trinket.3.is.x", "use trinket.1.X or trinket.2.X", 21, "trinket.3.is.x"),
    ("actions=judgment,if=trinket.1.has_buff.strenght", "unknown stat 'strenght'", 21,
     "trinket.1.has_buff.strenght"),
    ("actions=judgment,if=hero_tree.templr", "unknown expression 'hero_tree.templr'", 21, "hero_tree.templr"),
    ("actions=use_item", "use_item needs name=ITEM or slot=", 9, "use_item"),
    ("actions=judgment,target_if=lowest:target.health.pct", "target_if needs min:, max: or first:", 28, "lowest"),
    ("actions=judgment,spell_power=3", "'judgment' takes no option 'spell_power'", 18, "spell_power"),
])
def test_bad_simc_input_is_one_line_naming_the_token(env, text, message, column, token):
    with pytest.raises(AplError) as caught:
        Apl(text, env, "bad.simc", PROFILE)
    error = caught.value
    assert message in str(error) and "\n" not in str(error)
    assert (error.line, error.column, error.token) == (1, column, token)


# ------------------------------------------------------------------ SimC's names for our kit
def test_simc_aliases_name_the_talented_ability_and_our_debuffs(env):
    state = fresh(env, resources=jnp.array([3.0], jnp.float32))
    assert pick(env, "actions=templars_verdict", state) == "final_verdict@0"
    es = env.spec.debuff_names.index("execution_sentence")
    marked = fresh(env, debuff_remaining=state.debuff_remaining.at[0, es].set(8.0))
    assert value(env, "debuff.execution_sentence_debuff.remains", marked) == 8.0
    assert value(env, "debuff.execution_sentence_debuff.up", state) == 0.0
    typo = {**env.spec.settings, ALIASES_KEY: {"templars_verdict": "final_verdik"}}
    broken = dataclasses.replace(env, spec=dataclasses.replace(env.spec, settings=typo))
    with pytest.raises(InputError, match="'templars_verdict' maps to 'final_verdik', which is not an ability"):
        Kit(broken)


# ------------------------------------------------------------------ items and trinkets
def test_items_by_name_and_slot_and_trinket_expressions(env):
    state = fresh(env)
    assert pick(env, "actions=use_item,name=algethar_puzzle_box", state) == "trinket2"
    assert pick(env, "actions=use_item,slot=trinket2", state) == "trinket2"
    assert pick(env, "actions=potion", state) == "potion"
    assert pick(env, "actions=invoke_external_buff,name=power_infusion", state) == "power_infusion"
    passive = Apl("actions=use_item,slot=trinket1\nactions+=/use_items", env, "t.simc", PROFILE)
    assert passive.skipped == ("use_item,slot=trinket1 (umbral_plume: not on-use)",)
    expected = {
        "trinket.2.has_buff.mastery": 1.0, "trinket.2.has_buff.strength": 0.0, "trinket.2.has_cooldown": 1.0,
        "trinket.2.cooldown.duration": 120.0, "trinket.2.proc.any_dps.duration": 20.0,
        "trinket.2.cooldown.remains": 0.0, "trinket.2.is.algethar_puzzle_box": 1.0,
        "trinket.1.is.umbral_plume": 1.0, "trinket.1.has_cooldown": 0.0, "trinket.1.has_buff.crit": 0.0,
        "trinket.1.proc.any_dps.duration": 0.0, "equipped.umbral_plume": 1.0, "equipped.algethar_puzzle_box": 1.0,
        "equipped.260235": 1.0, "equipped.some_other_trinket": 0.0,
        "hero_tree.templar": 1.0, "hero_tree.herald_of_the_sun": 0.0,
    }
    assert {text: value(env, text, state) for text in expected} == expected
    box = env.spec.ability_names.index("trinket2")
    used = fresh(env, charges=state.charges.at[box].set(0), recharge=state.recharge.at[box].set(100.0))
    assert value(env, "trinket.2.cooldown.remains", used) == 100.0
    # Without the profile the items come from the spec's compiled loadout (on-use ones only).
    assert value(env, "equipped.algethar_puzzle_box", state, profile=None) == 1.0


# ------------------------------------------------------------------ raid events
def test_raid_event_adds_is_the_next_pull_of_a_route(route_env, env):
    state = route_env.init(jax.random.key(0))
    ttd = value(route_env, "pull.remains", state)
    assert value(route_env, "raid_event.adds.exists", state) == 1.0
    assert value(route_env, "raid_event.adds.in", state) == pytest.approx(value(route_env, "pull.time_to_next", state))
    assert value(route_env, "raid_event.adds.up", state) == 1.0          # 4 enemies in the first pull
    assert value(route_env, "raid_event.adds.count", state) == 4.0
    assert value(route_env, "raid_event.adds.remains", state) == pytest.approx(ttd)
    assert value(route_env, "raid_event.adds.duration", state) == pytest.approx(ttd)
    last = state.replace(pull_index=jnp.int32(2), enemy_alive=state.enemy_alive.at[1:].set(False))
    assert value(route_env, "raid_event.adds.exists", last) == 0.0
    assert value(route_env, "raid_event.adds.in", last) == 3600.0
    assert value(route_env, "raid_event.adds.up", last) == 0.0
    single = fresh(env)
    assert [value(env, f"raid_event.adds.{f}", single) for f in ("exists", "in", "up", "count", "remains")] == [
        0.0, 3600.0, 0.0, 0.0, 0.0]
    assert value(env, "raid_event.movement.in", single) == 3600.0


# ------------------------------------------------------------------ target_if
def test_target_if_chooses_the_enemy_then_checks_if(aoe_env):
    env = aoe_env
    state = fresh(env)
    health = state.enemy_health.at[:3].set(jnp.array([1.0e6, 0.3e6, 0.6e6]))
    hurt = fresh(env, enemy_health=health)
    assert pick(env, "actions=judgment,target_if=min:target.health.pct", hurt) == "judgment@1"
    assert pick(env, "actions=judgment,target_if=max:target.health.pct", hurt) == "judgment@0"
    assert pick(env, "actions=judgment,target_if=min:target.health.pct,if=target.health.pct<20", hurt) == "wait"
    assert pick(env, "actions=judgment,target_if=min:target.health.pct,if=target.health.pct<40", hurt) == "judgment@1"
    dead = fresh(env, enemy_health=health.at[1].set(0.0), enemy_alive=state.enemy_alive.at[1].set(False))
    assert pick(env, "actions=judgment,target_if=min:target.health.pct", dead) == "judgment@2"
    # The first enemy without the debuff; ties keep the current target.
    judged = env.spec.debuff_names.index("judgment")
    marked = fresh(env, debuff_remaining=state.debuff_remaining.at[:2, judged].set(10.0))
    assert pick(env, "actions=judgment,target_if=first:!debuff.judgment.up", marked) == "judgment@2"
    assert pick(env, "actions=judgment,target_if=first:debuff.judgment.up&!debuff.judgment.up", marked) == "wait"
    assert pick(env, "actions=judgment,target_if=min:debuff.judgment.remains", marked) == "judgment@2"
    assert pick(env, "actions=judgment,target_if=min:1", marked) == "judgment@0"


# ------------------------------------------------------------------ a whole APL in SimC's structure
SIMC_STYLE = """
# Precombat: constants of the character, then what is used before the pull.
actions.precombat=flask
actions.precombat+=/food
actions.precombat+=/snapshot_stats
actions.precombat+=/variable,name=box_buffs,value=trinket.1.has_buff.mastery|trinket.2.has_buff.mastery
actions.precombat+=/variable,name=box_sync,op=setif,value=1,value_else=0.5,condition=variable.box_buffs&(trinket.2.cooldown.duration%%cooldown.avenging_wrath.duration=0)
actions.precombat+=/variable,name=spend_at,op=reset,default=3
actions.precombat+=/use_item,name=algethar_puzzle_box,if=equipped.algethar_puzzle_box

actions=auto_attack
actions+=/rebuke
actions+=/call_action_list,name=cooldowns
actions+=/run_action_list,name=aoe,if=active_enemies>=3
actions+=/call_action_list,name=generators

actions.cooldowns=potion,if=buff.avenging_wrath.up|fight_remains<30
actions.cooldowns+=/use_item,slot=trinket1,if=buff.avenging_wrath.up
actions.cooldowns+=/use_item,slot=trinket2,if=(buff.avenging_wrath.up|!equipped.algethar_puzzle_box)&variable.box_sync>0
actions.cooldowns+=/invoke_external_buff,name=power_infusion,if=buff.avenging_wrath.up
actions.cooldowns+=/fireblood,if=buff.avenging_wrath.up
actions.cooldowns+=/berserking
actions.cooldowns+=/execution_sentence,if=(cooldown.avenging_wrath.remains>15|talent.radiant_glory)&target.time_to_die>10&cooldown.wake_of_ashes.remains<gcd
actions.cooldowns+=/avenging_wrath,if=(!raid_event.adds.up|target.time_to_die>10)&(!talent.holy_flames|dot.expurgation.ticking)

actions.finishers=variable,name=ds_castable,value=(active_enemies>=2|buff.divine_arbiter_verdict.up)&!buff.empyrean_legacy.up
actions.finishers+=/hammer_of_light,if=!buff.hammer_of_light_free.up|buff.hammer_of_light_free.remains<gcd*2
actions.finishers+=/divine_storm,if=variable.ds_castable
actions.finishers+=/templars_verdict,target_if=min:target.time_to_die,if=holy_power>=variable.spend_at

actions.generators=call_action_list,name=finishers,if=holy_power=5|buff.hammer_of_light_free.remains<gcd*2
actions.generators+=/wake_of_ashes,if=(cooldown.avenging_wrath.remains>6|talent.radiant_glory)&(!raid_event.adds.exists|raid_event.adds.in>10|raid_event.adds.up)
actions.generators+=/divine_toll,if=(!raid_event.adds.exists|raid_event.adds.in>10)&(cooldown.avenging_wrath.remains>15|fight_remains<8)
actions.generators+=/blade_of_justice,if=buff.art_of_war.stack=2|buff.righteous_cause.up
actions.generators+=/hammer_of_wrath,if=hero_tree.herald_of_the_sun&cooldown.hammer_of_wrath.charges=2
actions.generators+=/call_action_list,name=finishers
actions.generators+=/hammer_of_wrath,target_if=min:target.health.pct
actions.generators+=/blade_of_justice
actions.generators+=/judgment,target_if=first:!debuff.judgment.up
actions.generators+=/judgment
actions.generators+=/templar_slash
actions.generators+=/templar_strike
actions.generators+=/crusader_strike
actions.generators+=/arcane_torrent

actions.aoe=call_action_list,name=finishers,if=holy_power>=3
actions.aoe+=/wake_of_ashes
actions.aoe+=/divine_toll
actions.aoe+=/call_action_list,name=generators
"""
SKIPPED = ("flask", "food", "snapshot_stats", "rebuke", "use_item,slot=trinket1 (umbral_plume: not on-use)",
           "fireblood", "berserking", "buff.divine_arbiter_verdict", "buff.righteous_cause", "arcane_torrent")


def test_a_long_simc_structured_apl_compiles_and_plays_a_route(route_env):
    apl = Apl(SIMC_STYLE, route_env, "simc_style.simc", PROFILE)
    assert apl.skipped == SKIPPED
    assert apl.initial["box_sync"] == 1.0 and apl.initial["spend_at"] == 3.0
    states = rollout(route_env, apl, jax.random.key(1), 4, chunk_steps=256)
    assert bool(jnp.all(states.terminated)) and bool(jnp.all(states.damage_done > 0))
    casts = jnp.sum(states.casts, axis=0)   # per ability
    names = route_env.spec.ability_names
    for used in ("final_verdict", "wake_of_ashes", "avenging_wrath", "trinket2", "potion", "power_infusion"):
        assert int(casts[names.index(used)]) > 0, used


def test_cli_runs_a_simc_structured_apl_with_one_skip_line(tmp_path):
    path = tmp_path / "simc_style.simc"
    path.write_text(SIMC_STYLE)
    result = CliRunner().invoke(app, ["sim", "--apl", str(path), "--iterations", "4", "--duration", "30"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "skipped, not modelled by Portunus" in line]
    assert len(warnings) == 1 and result.output.count("warning:") == 1
    assert "rebuke" in result.output and "DPS:" in result.output
