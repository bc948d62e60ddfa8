"""Paired evaluation and the scenario suite: intervals on known differences, pairing on the
same episodes, the stopping rule, seeds apart from training's, the suite's fights."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from portunus.errors import InputError

pytestmark = pytest.mark.xdist_group("evaluate")


def short_fight_env():
    """The default character, stochastic, on a 20 s Patchwerk."""
    import sim
    from train.envs import parse_fight

    return sim.make("retribution_paladin", None, parse_fight("patchwerk:20", 8))

# A plainly worse priority list than the default: no cooldowns, spend at 5 Holy Power.
SIMPLE_APL = """actions=templar_strike
actions+=/final_verdict,if=holy_power>=5
actions+=/blade_of_justice
actions+=/judgment
actions+=/crusader_strike
"""


def test_paired_interval_covers_a_known_difference():
    from train.evaluate import paired

    generator = np.random.default_rng(3)
    covered, better = 0, 0
    for _ in range(400):
        base = generator.normal(100_000, 3_000, 24)         # episodes vary by 3 %
        policy = base * 1.01 + generator.normal(0, 300, 24)  # 1 % better, paired noise 0.3 %
        pair = paired(policy, base, lower_is_better=False)
        percent = pair["percent"]
        covered += percent["low"] <= 1.0 <= percent["high"]
        better += pair["better"]
        assert percent["n"] == 24 and percent["half_width"] == pytest.approx(percent["high"] - percent["mean"])
    assert 0.91 <= covered / 400 <= 0.99     # a 95 % interval covers the true +1 % about 95 % of the time
    assert better == 400                      # an unpaired comparison of these could not tell them apart
    faster = paired(np.array([90.0, 91, 92, 91]), np.array([100.0, 100, 100, 100]), lower_is_better=True)
    assert faster["better"] and not faster["worse"] and faster["difference"]["mean"] == pytest.approx(-9.0)


def test_a_route_scored_by_own_damage_is_ranked_by_its_reward():
    """The route's score is the simulator's reward for the whole fight in seconds (fails if it
    drifted from sim.engine.step_reward), and pairs so that a slower clear with enough more
    own damage ranks better, as training and search rank it, while its clear ranks worse; its
    percent is of the APL's clear (the score itself can be near 0 or below)."""
    from sim.engine import step_reward
    from train.envs import parse_fight
    from train.evaluate import FightResult, route_score, summarize

    fight = parse_fight("aoe:3,own_damage=2,bloodlust=none", 8)
    tables = fight.tables(95_000.0)
    time, damage = np.array([100.0, 140.0, 98.0, 120.0]), np.array([9.5e6, 4.0e6, 9.0e6, 7.0e6])
    reward = np.asarray(step_reward(tables, jnp.asarray(time, jnp.float32), jnp.asarray(damage, jnp.float32)))
    score = route_score(time, damage, fight.own_damage_weight, 95_000.0)
    np.testing.assert_allclose(score, -float(fight.time_limit) * reward, rtol=1e-5)
    np.testing.assert_allclose(score[:2], [100.0 - 200.0, 140.0 - 2 * 4.0e6 / 95_000.0])
    # episode_metrics adds it to a fight weighted so, and only there.
    from types import SimpleNamespace
    from train.evaluate import episode_metrics

    final = SimpleNamespace(time=time, damage_done=damage, terminated=np.ones(4, bool))
    weighted = episode_metrics(SimpleNamespace(fight=fight, nominal_dps=95_000.0), final)
    np.testing.assert_allclose(weighted["score"], score)
    plain = parse_fight("aoe:3,bloodlust=none", 8)
    assert "score" not in episode_metrics(SimpleNamespace(fight=plain, nominal_dps=95_000.0), final)
    apl = {"dps": damage / time, "damage": damage, "clear_time": time, "score": score}
    slower = {"dps": damage * 1.2 / (time + 5), "damage": damage * 1.2, "clear_time": time + 5.0,
              "score": route_score(time + 5.0, damage * 1.2, 2.0, 95_000.0)}
    results, pairs = summarize(None, {"apl": apl, "slower": slower})
    assert pairs["slower"]["clear_time"]["worse"] and pairs["slower"]["damage"]["better"]
    assert pairs["slower"]["score"]["better"] and not pairs["slower"]["score"]["worse"]
    saved = 5.0 - 2 * 0.2 * damage / 95_000.0       # seconds: the clear lost, less the damage gained
    assert pairs["slower"]["score"]["difference"]["mean"] == pytest.approx(saved.mean())
    assert pairs["slower"]["score"]["percent"]["mean"] == pytest.approx(np.mean(100 * saved / time))
    # The table shows the clear, the own damage and the score against the APL, side by side.
    from rich.console import Console
    from portunus.train_commands import fight_table

    console = Console(width=250, record=True)
    console.print(fight_table(FightResult("route", "clear_time", results, pairs, 4), seed=12))
    text = console.export_text()
    assert "own damage vs APL" in text and "score vs APL, s" in text
    row = next(line for line in text.splitlines() if line.strip("│ ").startswith("slower"))
    score = pairs["slower"]["score"]["difference"]
    assert f"{score['mean']:+.2f} [{score['low']:+.2f}, {score['high']:+.2f}] better" in row
    assert "+20.00 [+20.00, +20.00] better" in row and " worse" in row    # own damage, then the clear


def test_same_policy_twice_pairs_exactly_and_stops_at_the_target(tmp_path):
    """The default APL against a copy of its own file: every episode's difference is exactly 0
    (both played the same episode starts), so the first block meets any half-width."""
    from train.evaluate import Policy, evaluate_fight

    env = short_fight_env()
    copy = tmp_path / "copy.simc"
    copy.write_text((Path(env.spec.path).parent / env.spec.settings["default_apl"]).read_text())
    outcome = evaluate_fight(env, [Policy("apl", "apl"), Policy("copy", "apl", apl_path=copy)],
                             episodes=4, simulations=1, seed=7, half_width=0.01, max_episodes=64, timeline=4)
    assert outcome.episodes == 4 and "within" in outcome.stopped
    pair = outcome.paired["copy"]["dps"]
    assert pair["difference"]["mean"] == 0.0 and pair["difference"]["half_width"] == 0.0
    assert outcome.results["apl"]["dps"]["half_width"] > 0     # four different episodes, not one four times
    check_timeline(outcome, env)


def check_timeline(outcome, env) -> None:
    """The timeline replays the first block's episodes: per window, the damage adds up to their
    mean damage; the two identical policies count identically, so nothing differs; the opener's
    Wake of Ashes lands in the first window."""
    from train.timeline import largest_differences

    timeline = outcome.timeline
    assert timeline["episodes"] == 4
    assert timeline["window_edges_s"][0] == 0 and timeline["window_edges_s"][-1] == float(env.fight.time_limit)
    for label in ("apl", "copy"):
        entry = timeline["policies"][label]
        assert len(entry["damage"]) == 4 and all(len(counts) == 4 for counts in entry["casts"].values())
        assert sum(entry["damage"]) == pytest.approx(outcome.results[label]["damage"]["mean"], rel=1e-5)
    assert timeline["policies"]["apl"] == timeline["policies"]["copy"]
    assert timeline["policies"]["apl"]["casts"]["wake_of_ashes"][0] == 1.0
    assert largest_differences(timeline, "apl") == []


def test_noisy_difference_plays_until_the_episode_limit(tmp_path):
    from train.evaluate import Policy, evaluate_fight

    env = short_fight_env()
    simple = tmp_path / "simple.simc"
    simple.write_text(SIMPLE_APL)
    blocks = []
    outcome = evaluate_fight(env, [Policy("apl", "apl"), Policy("simple", "apl", apl_path=simple)],
                             episodes=3, simulations=1, seed=7, half_width=1e-4, max_episodes=6,
                             on_block=lambda done, planned: blocks.append((done, planned)))
    assert blocks == [(3, 6), (6, 6)] and outcome.episodes == 6 and "limit" in outcome.stopped
    pair = outcome.paired["simple"]["dps"]
    assert pair["percent"]["n"] == 6 and pair["worse"]      # no cooldowns: plainly below the default


def test_evaluation_keys_are_not_training_keys():
    from train.evaluate import episode_keys

    evaluation = np.asarray(jax.random.key_data(episode_keys(0, 0, 64)))
    again = np.asarray(jax.random.key_data(episode_keys(0, 32, 32)))
    np.testing.assert_array_equal(evaluation[32:], again)     # episode i is the same whatever the block
    training = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(0), 64)))
    assert not ({tuple(row) for row in evaluation} & {tuple(row) for row in training})
    assert not np.array_equal(evaluation, np.asarray(jax.random.key_data(episode_keys(1, 0, 64))))


def test_a_planner_may_search_with_its_own_simulations():
    from train.evaluate import planner_setting

    assert planner_setting("expected", 64) == ("mcts expected", planner_setting("expected@64", 8)[1])
    label, config = planner_setting("expected@256", 64)
    assert label == "mcts expected@256" and config.num_simulations == 256 and config.expected_value
    label, config = planner_setting("futures:4", 32)
    assert label == "mcts futures:4" and config.num_simulations == 32 and config.worlds == 4


def test_a_planner_searches_with_its_own_simulations_not_the_runs(monkeypatch):
    import sim
    import train.evaluate as evaluation

    built = []
    monkeypatch.setattr(evaluation, "make_search", lambda env, config, *rest: built.append(config))
    label, config = evaluation.planner_setting("expected@16", 64)
    evaluation.policy_step(sim.make(), evaluation.Policy(label, "mcts", search=config), simulations=64)
    assert [c.num_simulations for c in built] == [16]


def test_model_leaf_rollouts_come_from_training_then_model_json_then_the_option(monkeypatch):
    """A model searches with the leaf rollouts it was trained with, unless its model.json's
    "search" says otherwise (how it ships), unless `--rollout-steps` says otherwise."""
    import dataclasses

    import sim
    import train.evaluate as evaluation
    from train.model import load_model

    shipped = load_model()
    trained = shipped.info["config"]["rollout_steps"]
    plain = dataclasses.replace(shipped, info={k: v for k, v in shipped.info.items() if k != "search"})
    retuned = dataclasses.replace(plain, info={**plain.info, "search": {"rollout_steps": trained + 5}})
    built = []
    monkeypatch.setattr(evaluation, "make_search", lambda env, config, *rest: built.append(config))
    env = sim.make()
    for model, override in ((plain, None), (retuned, None), (retuned, 3), (plain, 0)):
        _, policy = evaluation.policies_for({"m": model}, model_kinds=("net+mcts",), rollout_steps=override)
        evaluation.policy_step(env, policy, simulations=64)
    assert [c.rollout_steps for c in built] == [trained, trained + 5, 3, 0]
    assert {c.value for c in built} == {shipped.info["config"]["search_value"]}
    from search.types import SearchConfig

    # The leaf kind and the considered actions the same way: model.json, then `--search-value`.
    built.clear()
    bootstrapped = dataclasses.replace(plain, info={**plain.info, "search": {"value": "bootstrap",
                                                                            "max_num_considered_actions": 8}})
    for model, value in ((bootstrapped, None), (bootstrapped, "rollout"), (plain, "bootstrap")):
        _, policy = evaluation.policies_for({"m": model}, model_kinds=("net+mcts",), search_value=value)
        evaluation.policy_step(env, policy, simulations=64)
    assert [(c.value, c.max_num_considered_actions) for c in built] == [
        ("bootstrap", 8), ("rollout", 8), ("bootstrap", SearchConfig().max_num_considered_actions)]


def test_every_scenario_names_a_fight_and_its_decision():
    from train.envs import parse_fight
    from train.scenarios import SUITE, scenario_fights

    for scenario in SUITE:
        fight = parse_fight(scenario.fight, 8)
        assert fight.num_slots == 8 and len(scenario.tests) > 20
    assert parse_fight("patchwerk:300,bloodlust=90", 8).bloodlust_at == 90.0
    assert parse_fight("aoe:5,bloodlust=none", 8).bloodlust_at is None
    hold = parse_fight("route:hold_for_big_pull", 8)
    assert hold.num_pulls == 2 and hold.pull_health[1].sum() > 5 * hold.pull_health[0].sum()
    with pytest.raises(InputError, match="unknown scenario nope"):
        scenario_fights(("nope",))
    with pytest.raises(InputError, match="unknown option 'lust=3'"):
        parse_fight("patchwerk,lust=3", 8)
    # The route scenario is scored by its clear and the player's own damage: the planner's reward says so.
    route = parse_fight(scenario_fights(("route",))[0].fight, 8)
    assert route.own_damage_weight > 0 and parse_fight("route:sample_keystone", 8).own_damage_weight == 0
    assert parse_fight("aoe:3,own_damage=0.25,bloodlust=none", 8).own_damage_weight == 0.25
    for bad, message in (("patchwerk:300,own_damage=1", "scored by damage already"),
                         ("aoe:3,own_damage=-1", "own_damage must be a weight 0..10"),
                         ("aoe:3,own_damage=nan", "own_damage must be a weight"),
                         ("aoe:3,own_damage=11", "own_damage must be a weight"),
                         ("aoe:3,own_damage=", "unknown option 'own_damage='")):
        with pytest.raises(InputError, match=message):
            parse_fight(bad, 8)


def test_cli_suite_in_a_small_configuration(tmp_path):
    """`portunus evaluate --suite` on one scenario with a second APL: the table, the JSON with
    paired differences, the decision tested, the seeds, the plot."""
    from portunus.cli import app

    simple = tmp_path / "simple.simc"
    simple.write_text(SIMPLE_APL)
    out = tmp_path / "evaluation.json"
    result = CliRunner().invoke(app, ["evaluate", "--suite", "--scenarios", "hold_for_big_pull", "--apl", str(simple),
                                      "--episodes", "2", "--json", str(out), "--plot", str(tmp_path / "e.png")])
    assert result.exit_code == 0, result.output
    assert "hold_for_big_pull" in result.output and "vs APL" in result.output
    data = json.loads(out.read_text())
    (fight,) = data["fights"]
    assert fight["fight"] == "hold_for_big_pull" and "Wake of Ashes" in fight["tests"]
    assert fight["definition"] == "route:hold_for_big_pull"
    assert fight["objective"] == "clear_time" and set(fight["paired"]) == {"apl:simple"}
    assert set(fight["paired"]["apl:simple"]) == {"dps", "damage", "clear_time"}
    assert data["settings"]["seeds"]["evaluation_seed"] == 0 and data["settings"]["seeds"]["episodes"] == {
        "hold_for_big_pull": 2}
    assert (tmp_path / "e.png").stat().st_size > 5000
    nothing = CliRunner().invoke(app, ["evaluate", "--json", str(out)])
    assert nothing.exit_code != 0 and "nothing to compare" in nothing.output


def poor_list_and_its_lookahead(env, tmp_path):
    """Two episodes of a poor list (Judgment when ready, else wait) and of the headroom
    lookahead that rolls that list out, on the same keys: (list's final states, lookahead's)."""
    from train.evaluate import Policy, make_player, episode_keys, policy_step

    poor = tmp_path / "poor.simc"
    poor.write_text("actions=judgment\n")
    keys = episode_keys(11, 0, 2)
    base = make_player(env, policy_step(env, Policy("poor", "apl", apl_path=poor), 1))(keys, 0)
    ahead = make_player(env, policy_step(env, Policy("ahead", "lookahead", apl_path=poor, samples=2,
                                                     max_actions=6), 1))(keys, 0)
    return base, ahead


def test_headroom_lookahead_improves_on_the_policy_it_rolls_out(tmp_path):
    """The lookahead over a poor base list (Judgment when ready, else wait) tries every legal
    action followed by that list, and so plays far better than the list itself on the same
    episodes (it fails if the lookahead took its actions at random or kept the list's pick)."""
    base, ahead = poor_list_and_its_lookahead(short_fight_env(), tmp_path)
    gain = np.asarray(ahead.damage_done) / np.asarray(base.damage_done)
    assert np.all(gain > 1.5), gain


def test_headroom_lookahead_clears_a_fight_that_ends_when_enemies_die_faster(tmp_path):
    """Where the fight's return is its clear time, the lookahead scores each action by the
    simulator's reward for the whole fight (sim.engine.step_reward) and so kills two enemies
    several times faster than the poor list it rolls out (fails if it maximized time)."""
    import sim

    env = sim.make("retribution_paladin", None, sim.aoe(targets=2, health_per_target=300_000.0, time_limit=90.0))
    base, ahead = poor_list_and_its_lookahead(env, tmp_path)
    assert np.all(np.asarray(ahead.time) < 0.5 * np.asarray(base.time)), (ahead.time, base.time)


def test_fights_option_keeps_a_fights_own_options(tmp_path):
    from portunus.cli import app
    from portunus.train_commands import split_fights

    assert split_fights("patchwerk:300,bloodlust=90, aoe:5,route:x") == (
        "patchwerk:300,bloodlust=90", "aoe:5", "route:x")
    simple = tmp_path / "simple.simc"
    simple.write_text(SIMPLE_APL)
    result = CliRunner().invoke(app, ["evaluate", "--apl", str(simple), "--fights", "patchwerk,bloodlust=nan"])
    assert result.exit_code != 0 and "bloodlust must be seconds" in result.output


def test_retail_runs_of_different_seeds_pool_into_more_pairs(tmp_path):
    """scripts/retail_paired.py: two runs' episodes pool (n adds up, the paired mean is the
    pooled one); runs sharing a seed or with other settings are refused."""
    import subprocess
    import sys

    def run(seed, full, copies, **changes):
        views = {"full": {"episode_damage": full}, "retail_particles": {"episode_damage": copies},
                 "apl_retail_particles": {"episode_damage": [d * 0.99 for d in copies]}}
        data = {"policy": "mcts", "simulations": 32, "belief_samples": 4, "particles": 32, "fight": "P",
                "seed": seed, "views": views, **changes}
        path = tmp_path / f"run{seed}-{len(changes)}.json"
        path.write_text(json.dumps(data))
        return str(path)

    script = [sys.executable, str(Path(__file__).resolve().parent.parent / "scripts" / "retail_paired.py")]
    a = run(0, [100.0, 102.0, 98.0], [100.0, 101.0, 99.0])
    b = run(1, [101.0, 99.0], [102.0, 100.0])
    out = subprocess.run(script + [a, b], capture_output=True, text=True, check=True).stdout
    assert "retail_particles vs apl_retail_particles: +1.0 %" in out and "(n=5)" in out
    same_seed = subprocess.run(script + [a, a], capture_output=True, text=True)
    assert same_seed.returncode != 0 and "share a seed" in same_seed.stderr
    other = subprocess.run(script + [a, run(2, [1.0], [1.0], simulations=64)], capture_output=True, text=True)
    assert other.returncode != 0 and "other settings" in other.stderr
    (tmp_path / "binary.json").write_bytes(b"\x00\xff\xfe")
    for bad in (str(tmp_path / "missing.json"), str(tmp_path / "binary.json")):
        refused = subprocess.run(script + [a, bad], capture_output=True, text=True)
        assert refused.returncode != 0 and refused.stderr.startswith(bad) and "Traceback" not in refused.stderr


def test_network_only_plays_no_search(tmp_path):
    """`--network-only`: the shipped model's network against the APL, no network + MCTS row,
    and the JSON says which model policies were played; without a model it is refused."""
    from portunus.cli import app

    out = tmp_path / "evaluation.json"
    result = CliRunner().invoke(app, ["evaluate", "checkpoints/retribution_paladin", "--network-only",
                                      "--fights", "patchwerk:20", "--episodes", "2", "--json", str(out),
                                      "--plot", str(tmp_path / "e.png"), "--timeline", "4", "--rollout-steps", "3"])
    assert result.exit_code == 0, result.output
    assert "5-10 s" in result.output                  # the damage-per-window table
    data = json.loads(out.read_text())
    (fight,) = data["fights"]
    assert set(fight["results"]) == {"apl", "model net"} and set(fight["paired"]) == {"model net"}
    assert data["settings"]["model_policies"] == ["net"] and data["settings"]["timeline_windows"] == 4
    assert data["settings"]["model_search"]["model"]["rollout_steps"] == 3
    assert set(fight["timeline"]["policies"]) == {"apl", "model net"}
    simple = tmp_path / "simple.simc"
    simple.write_text(SIMPLE_APL)
    refused = CliRunner().invoke(app, ["evaluate", "--apl", str(simple), "--network-only"])
    assert refused.exit_code == 2 and "--network-only plays a model's network" in refused.output
    for args, message in ((["--search-value", "oracle"], "--search-value must be one of network, rollout, bootstrap, "
                                                         "got 'oracle'"),
                          (["--search-value", "bootstrap", "--network-only"], "--search-value sets the leaves")):
        refused = CliRunner().invoke(app, ["evaluate", "checkpoints/retribution_paladin", *args])
        assert refused.exit_code == 2 and message in refused.output, refused.output
