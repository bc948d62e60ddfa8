"""The APL language: parsing, every error path, expression values, list semantics,
and the default APL against naive policies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sim
from sim.apl import Apl, AplError, load_apl, parse_apl, parse_expression
from sim.apl.expressions import NameResolver, compile_expression, make_context
from sim.policies import highest_damage, random_legal
from sim.rollout import rollout
from tests.conftest import act, make_test_env, with_resources


@pytest.fixture(scope="module")
def env(test_profile):
    return make_test_env(test_profile)


@pytest.fixture(scope="module")
def route_env(test_profile):
    return make_test_env(test_profile, sim.load_route("short_test"))


def value(env, text, state, variables=None):
    resolver = NameResolver(env, set(variables or {}), "<test>")
    function = compile_expression(parse_expression(text), resolver, 1)
    context = make_context(env, state)
    context.variables = {k: jnp.float32(v) for k, v in (variables or {}).items()}
    return float(function(context))


# ------------------------------------------------------------------ parsing
def test_parse_lists_and_entries():
    lists = parse_apl("""
# comment
actions=call_action_list,name=cds/judgment
actions+=/final_verdict,if=holy_power>=3&(buff.avenging_wrath.up|time>10)
actions.cds=avenging_wrath
""")
    assert [e.action for e in lists.lists["default"]] == ["call_action_list", "judgment", "final_verdict"]
    assert lists.lists["default"][0].options == {"name": "cds"}
    assert [e.action for e in lists.lists["cds"]] == ["avenging_wrath"]


@pytest.mark.parametrize("text, expected", [
    ("1+2*3", 7.0), ("(1+2)*3", 9.0), ("7%2", 3.5), ("7/2", 3.5), ("7%%3", 1.0), ("5%0", 0.0),
    ("2-3-4", -5.0), ("-2+5", 3.0), ("!0", 1.0), ("!3", 0.0), ("1|0&0", 1.0), ("(1|0)&0", 0.0),
    ("1+1=2", 1.0), ("3>=3&2<3", 1.0), ("2!=2", 0.0), ("1==1", 1.0), (".5*4", 2.0),
])
def test_operators_and_precedence(env, text, expected):
    assert value(env, text, env.init(jax.random.key(0))) == pytest.approx(expected)


@pytest.mark.parametrize("text, message, line, column, token", [
    ("foo=bar", "expected 'actions=", 1, 1, "foo"),
    ("actions+=judgment", "'+=' must be followed by '/'", 1, 10, "j"),
    ("actions=judgment//crusader_strike", "empty action entry", 1, 18, "/"),
    ("actions=,if=1", "expected an action name", 1, 9, ","),
    ("actions=judgment,iff", "expected 'option=value'", 1, 18, "iff"),
    ("actions=judgment,if=1,if=0", "option 'if' given twice", 1, 23, "if"),
    ("actions+=/judgment,if=time>$", "unexpected character '$'", 1, 28, "$"),
    ("actions+=/judgment,if=(time>1", "missing ')'", 1, 30, "end of expression"),
    ("actions+=/judgment,if=", "empty expression", 1, 23, "end of expression"),
    ("actions+=/judgment,if=time+", "expected a number, a name", 1, 28, "end of expression"),
    ("actions+=/judgment,if=time 1", "expected an operator", 1, 28, "1"),
    ("actions=judgment,if=time/2>1", "'/' separates entries", 1, 25, "/"),
    ("actions+=/judgment,if=buff..up", "cannot end with '.' or contain '..'", 1, 23, "buff..up"),
    ("actions=judgment\nactions=crusader_strike", "assigned twice", 2, 1, "actions="),
])
def test_syntax_errors_name_line_column_and_token(text, message, line, column, token):
    with pytest.raises(AplError) as caught:
        parse_apl(text, "my.simc")
    error = caught.value
    assert message in str(error)
    assert (error.line, error.column, error.token) == (line, column, token)
    assert str(error).startswith(f"my.simc:{line}: column {column}:")


def test_apl_without_default_list():
    with pytest.raises(Exception, match="no 'actions=' list"):
        parse_apl("actions.x=judgment")


@pytest.mark.parametrize("text, message, token", [
    ("actions=judgement", "unknown ability 'judgement' (did you mean 'judgment'?)", "judgement"),
    ("actions=judgment,if=buff.avenging_wrat.up", "unknown buff 'avenging_wrat' (did you mean 'buff.avenging_wrath.up'?)",
     "buff.avenging_wrat.up"),
    ("actions=judgment,if=cooldown.judgment.remain>1",
     "unknown expression 'cooldown.judgment.remain' (did you mean 'cooldown.judgment.remains'?)",
     "cooldown.judgment.remain"),
    ("actions=judgment,if=debuff.judgmnt.up", "unknown debuff 'judgmnt'", "debuff.judgmnt.up"),
    ("actions=judgment,if=holy_powr>1", "unknown expression 'holy_powr' (did you mean 'holy_power'?)", "holy_powr"),
    ("actions=judgment,if=variable.nope>1", "unknown variable 'nope'", "variable.nope"),
    ("actions=judgment,if=prev_gcd.2.judgment", "only the last action is tracked", "prev_gcd.2.judgment"),
    ("actions=call_action_list,name=cooldwns\nactions.cooldowns=judgment",
     "no action list named 'cooldwns' (did you mean 'cooldowns'?)", "cooldwns"),
    ("actions=judgment,cycle_target=1", "'judgment' takes no option 'cycle_target'", "cycle_target"),
    ("actions=use_itm,name=trinket", "unknown ability 'use_itm' (did you mean 'use_item'?)", "use_itm"),
    ("actions=variable,name=x,op=sett,value=1", "unknown variable op 'sett' (did you mean 'set'?)", "sett"),
    ("actions=variable,name=x", "variable needs value=", "variable"),
])
def test_name_errors_suggest_the_nearest_name(env, text, message, token):
    with pytest.raises(AplError) as caught:
        Apl(text, env, "my.simc")
    assert message in str(caught.value)
    assert caught.value.token == token and caught.value.line == len(text.splitlines()) - ("\n" in text and
                                                                                          "cooldowns=" in text)


def test_action_lists_calling_in_a_loop(env):
    with pytest.raises(Exception, match="loop: default -> a -> b -> a"):
        Apl("actions=call_action_list,name=a\nactions.a=call_action_list,name=b\n"
            "actions.b=call_action_list,name=a", env)


# ------------------------------------------------------------------ expression values
def state_with(env, **changes):
    state = env.init(jax.random.key(0)).replace(**changes)
    return state.replace(legal_action_mask=env.legal_action_mask(state))


def test_cooldown_expressions(env):
    state = act(env, act(env, env.init(jax.random.key(0)), "crusader_strike"), "crusader_strike")
    # Both charges used: the first back at 6 s (now 3 s), the second 6 s later.
    assert value(env, "cooldown.crusader_strike.ready", state) == 0.0
    assert value(env, "cooldown.crusader_strike.remains", state) == pytest.approx(3.0)
    assert value(env, "cooldown.crusader_strike.charges", state) == 0.0
    assert value(env, "cooldown.crusader_strike.charges_fractional", state) == pytest.approx(0.5)
    assert value(env, "cooldown.crusader_strike.full_recharge_time", state) == pytest.approx(9.0)
    assert value(env, "cooldown.crusader_strike.max_charges", state) == 2.0
    assert value(env, "cooldown.judgment.ready", state) == 1.0
    assert value(env, "cooldown.judgment.remains", state) == 0.0
    assert value(env, "cooldown.avenging_wrath.duration", state) == 60.0


def test_buff_debuff_and_resource_expressions(env):
    state = act(env, env.init(jax.random.key(0)), "judgment")
    state = act(env, state, "avenging_wrath")   # no haste from Wrath without Crusade
    assert value(env, "buff.avenging_wrath.up", state) == 1.0
    assert value(env, "buff.avenging_wrath.remains", state) == pytest.approx(20.0)
    assert value(env, "buff.avenging_wrath.stack", state) == 1.0
    assert value(env, "buff.empyrean_power.down", state) == 1.0
    assert value(env, "debuff.judgment.up", state) == 1.0
    assert value(env, "debuff.judgment.remains", state) == pytest.approx(15.0 - 1.5)
    assert value(env, "dot.expurgation.ticking", state) == 0.0
    assert value(env, "debuff.judgment.refreshable", state) == 0.0
    assert value(env, "holy_power", state) == 1.0
    assert value(env, "holy_power.deficit", state) == 4.0
    assert value(env, "holy_power.max", state) == 5.0
    assert value(env, "prev.avenging_wrath", state) == 1.0
    assert value(env, "prev.judgment", state) == 0.0


def test_time_target_and_gcd_expressions(env, test_profile):
    state = state_with(env, time=jnp.float32(240.0))
    assert value(env, "time", state) == 240.0
    assert value(env, "fight_remains", state) == pytest.approx(60.0)
    assert value(env, "target.time_to_die", state) == pytest.approx(60.0)
    assert value(env, "target.health.pct", state) == pytest.approx(20.0)
    assert value(env, "gcd", state) == pytest.approx(1.5)
    hasted = make_test_env(test_profile.__class__(**{**test_profile.__dict__,
                                                     "gear": {**test_profile.gear, "haste_rating": 2200.0}}))
    haste = float(hasted.stats.haste)
    assert 0.45 < haste < 0.5  # 50 % from rating, less after diminishing returns
    assert value(hasted, "gcd.max", hasted.init(jax.random.key(0))) == pytest.approx(1.5 / (1 + haste))


def test_enemy_count_expressions(test_profile):
    env = make_test_env(test_profile, sim.aoe(targets=8, health_per_target=1e6))
    state = env.init(jax.random.key(0))
    assert value(env, "active_enemies", state) == 8.0
    assert value(env, "spell_targets.divine_storm", state) == 8.0
    assert value(env, "spell_targets.divine_toll", state) == 5.0
    assert value(env, "spell_targets.final_verdict", state) == 1.0
    # Health-based fights estimate time to die from the damage rate so far, shrunk for 5 s
    # towards the spec's nominal DPS shared by the living (no group here).
    hurt = state.replace(time=jnp.float32(10.0), enemy_health=state.enemy_health.at[0].set(0.25e6))
    nominal = env.spec.settings["nominal_dps"]
    rate = (0.5e6 - 0.25e6 + nominal / 8 * 5.0) / (10.0 + 5.0)  # the first target has 50 % of 1e6
    assert value(env, "target.time_to_die", hurt) == pytest.approx(0.25e6 / rate, rel=1e-5)


def test_route_expressions(route_env):
    state = route_env.init(jax.random.key(0))
    assert value(route_env, "pull.index", state) == 1.0
    assert value(route_env, "pull.count", state) == 3.0
    assert value(route_env, "pull.remaining", state) == 2.0
    assert value(route_env, "pull.enemies_left", state) == 4.0
    assert value(route_env, "pull.next_travel", state) == 10.0
    assert value(route_env, "pull.is_boss", state) == 0.0
    hurt = state.replace(time=jnp.float32(5.0), enemy_health=state.enemy_health * 0.5)
    prior_rate = 25_000 + route_env.spec.settings["nominal_dps"] / 4  # group DPS + nominal DPS over 4 enemies
    ttd = float(hurt.enemy_health[0]) / ((float(state.enemy_health[0]) * 0.5 + prior_rate * 5.0) / 10.0)
    assert value(route_env, "pull.time_to_next", hurt) == pytest.approx(ttd + 10.0, rel=1e-5)
    assert value(route_env, "raid_event.adds.in", hurt) == pytest.approx(ttd + 10.0, rel=1e-5)
    last = state.replace(pull_index=jnp.int32(2))
    assert value(route_env, "pull.is_boss", last) == 1.0
    assert value(route_env, "raid_event.adds.in", last) == 3600.0


def test_variables_in_expressions(env):
    assert value(env, "variable.pool*2", env.init(jax.random.key(0)), {"pool": 3.0}) == 6.0


# ------------------------------------------------------------------ list semantics
def pick(env, text, state):
    """The ability the APL picks (on whichever target)."""
    action = int(jax.jit(Apl(text, env))(state))
    return (env.spec.ability_names + ("wait",))[env.spec.action_ability[action]]


def test_first_legal_entry_whose_condition_holds(env):
    state = env.init(jax.random.key(0))
    assert pick(env, "actions=final_verdict\nactions+=/judgment", state) == "judgment"  # FV not affordable
    assert pick(env, "actions=crusader_strike,if=holy_power>=3\nactions+=/judgment", state) == "judgment"
    rich = with_resources(env, state, 3)
    assert pick(env, "actions=crusader_strike,if=holy_power>=3\nactions+=/judgment", rich) == "crusader_strike"
    assert pick(env, "actions=final_verdict,if=time>5", state) == "wait"  # nothing fires: wait


def test_call_and_run_action_lists(env):
    state = env.init(jax.random.key(0))
    call = "actions=call_action_list,name=sub,if={c}\nactions+=/judgment\nactions.sub=crusader_strike,if=time>5"
    assert pick(env, call.format(c="1"), state) == "judgment"  # the sub-list fired nothing: go on
    run = "actions=run_action_list,name=sub,if={c}\nactions+=/judgment\nactions.sub=crusader_strike,if=time>5"
    assert pick(env, run.format(c="1"), state) == "wait"  # run_action_list does not come back
    assert pick(env, run.format(c="0"), state) == "judgment"
    nested = "actions=call_action_list,name=a\nactions.a=call_action_list,name=b\nactions.b=blade_of_justice"
    assert pick(env, nested, state) == "blade_of_justice"


def test_variables_are_set_in_order(env):
    state = env.init(jax.random.key(0))
    text = ("actions=variable,name=x,value=2\nactions+=/variable,name=x,op=add,value=3\n"
            "actions+=/variable,name=x,op=mul,value=2,if=time>100\n"
            "actions+=/crusader_strike,if=variable.x=5\nactions+=/judgment")
    assert pick(env, text, state) == "crusader_strike"
    assert pick(env, text.replace("op=add", "op=max"), state) == "judgment"  # max(2, 3) = 3


def test_compiled_apl_is_jittable_and_vmappable(env):
    apl = load_apl(env)
    states = jax.vmap(env.init)(jax.random.split(jax.random.key(0), 8))
    actions = jax.jit(jax.vmap(apl))(states)
    assert actions.shape == (8,) and bool(jnp.all(states.legal_action_mask[jnp.arange(8), actions]))


# ------------------------------------------------------------------ the default APL
@pytest.mark.parametrize("fight", ["patchwerk", "aoe5", "route"])
def test_default_apl_beats_naive_policies(fight):
    fights = {"patchwerk": lambda: sim.patchwerk(duration=120.0), "aoe5": lambda: sim.aoe(5, 300_000.0),
              "route": lambda: sim.load_route("short_test")}
    env = sim.make(fight=fights[fight]())
    results = {}
    for name, policy in (("apl", load_apl(env)), ("greedy", highest_damage(env)), ("random", random_legal(env))):
        states = rollout(env, policy, jax.random.key(42), 32, chunk_steps=128)
        assert bool(jnp.all(states.terminated))
        results[name] = (float((states.damage_done / states.time).mean()), float(states.time.mean()))
    # In a route the rest of the group deals most of the damage, so the player's policy
    # moves DPS less (the clear time must still be shorter).
    margin = 1.05 if fight == "route" else 1.15
    for naive in ("greedy", "random"):
        assert results["apl"][0] > margin * results[naive][0], results
        if fight != "patchwerk":
            assert results["apl"][1] < results[naive][1], results


def test_greedy_picks_the_ability_whose_own_hit_is_largest():
    import dataclasses

    from sim import engine

    env = sim.make(fight=sim.patchwerk(duration=120.0))
    expected = dataclasses.replace(env, expected_value=True)
    state, step = env.init(jax.random.key(3)), jax.jit(expected.step)
    own = {}
    for ability in range(env.spec.num_abilities):
        action, legal = engine.action_on(env.spec, ability, jnp.int32(0), state.legal_action_mask)
        if bool(legal):
            own[int(action)] = float(step(state, action).damage_by_source[ability])
    pick = int(highest_damage(env)(state, None))
    assert pick in own and own[pick] == max(own.values()) > 0, (pick, own)


def test_expressions_on_a_batch_last_batch_equal_per_state_values(route_env):
    """Every family of names, evaluated on a batch whose axis is last (as the rollouts in
    search and the chunk runner do), equals the value of each state on its own."""
    from sim.rollout import batch_last, init_batch, make_chunk_runner

    env = route_env
    texts = ["pull.index", "pull.count", "pull.remaining", "pull.enemies_left", "pull.is_boss",
             "pull.next_is_boss", "pull.next_travel", "pull.time_to_next", "pull.remains",
             "raid_event.adds.in", "active_enemies", "fight_remains", "target.time_to_die", "target.distance",
             "target.health.pct", "spell_targets.divine_storm", "cooldown.blade_of_justice.charges_fractional",
             "cooldown.blade_of_justice.full_recharge_time", "buff.avenging_wrath.remains",
             "debuff.judgment.remains", "holy_power.deficit", "gcd.max", "time", "prev_gcd.1.judgment"]
    # States spread over the route (every 4 decisions of one APL fight: several pulls).
    run, state, spread = make_chunk_runner(env, load_apl(env), 4), init_batch(env, jax.random.key(8), 1), []
    for _ in range(16):
        state = run(state)
        spread.append(state)
    states = jax.tree.map(lambda *xs: jnp.concatenate(xs), *spread)
    assert len(set(np.asarray(states.pull_index).tolist())) > 1
    resolver = NameResolver(env, set(), "<test>")
    for text in texts:
        function = compile_expression(parse_expression(text), resolver, 1)
        batched = np.asarray(jax.jit(lambda s: function(make_context(env, s)))(batch_last(states)))
        single = np.asarray(jax.jit(jax.vmap(lambda s: function(make_context(env, s))))(states))
        np.testing.assert_allclose(batched, single, rtol=1e-6, atol=1e-5, err_msg=text)


# ------------------------------------------------------------------ the game's Assisted Combat list
def test_target_distance_is_melee_in_range_and_far_otherwise(route_env):
    state = route_env.init(jax.random.key(0))
    assert value(route_env, "target.distance", state) == 5.0
    away = state.replace(enemy_in_range=jnp.zeros_like(state.enemy_in_range))
    assert value(route_env, "target.distance", away) == 40.0


def cooling(env, state, *names):
    for name in names:
        index = env.spec.ability_names.index(name)
        state = state.replace(charges=state.charges.at[index].set(0), recharge=state.recharge.at[index].set(50.0))
    return state.replace(legal_action_mask=env.legal_action_mask(state))


def test_assisted_combat_list_follows_the_games_step_order(env):
    """sim/specs/retribution_paladin_assisted.simc: the first usable step wins (SimC's
    use_blizzard_action_list): Avenging Wrath, then Execution Sentence; a spender before the
    Expurgation Blade of Justice; Blade of Justice at 3 Holy Power or less; Judgment last."""
    apl = jax.jit(load_apl(env, sim.apl.shipped_apl_path(env, "assisted"), warn=None))

    def chosen(state):
        return (env.spec.ability_names + ("wait",))[env.spec.action_ability[int(apl(state))]]

    state = env.init(jax.random.key(0))
    assert chosen(state) == "avenging_wrath"
    state = cooling(env, state, "avenging_wrath")
    assert chosen(state) == "execution_sentence"
    state = cooling(env, state, "execution_sentence", "wake_of_ashes", "divine_toll")
    assert chosen(state) == "blade_of_justice"          # Expurgation is not burning
    assert chosen(with_resources(env, state, 5)) == "final_verdict"
    state = cooling(env, state, "blade_of_justice")
    assert chosen(state) == "judgment"                  # holy_power <= 3 (no Templar Strikes talent)
