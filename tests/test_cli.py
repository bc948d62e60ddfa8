"""The `portunus` command end to end (in-process, through typer's runner)."""

import json

from typer.testing import CliRunner

from portunus.cli import app

runner = CliRunner()


def test_sim_prints_a_summary_and_writes_json(tmp_path):
    out = tmp_path / "sim.json"
    result = runner.invoke(app, ["sim", "--iterations", "16", "--duration", "60", "--seed", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "DPS:" in result.output and "Final Verdict" in result.output
    data = json.loads(out.read_text())
    assert data["iterations"] == 16 and len(data["dps"]["per_iteration"]) == 16
    assert data["fight_length"]["mean"] == 60.0
    assert 30000 < data["dps"]["mean"] < 300000   # SimC: 113k for this character (docs/validation.md)
    shares = sum(row["share"] for row in data["abilities"])
    assert abs(shares - 1.0) < 1e-4
    again = tmp_path / "again.json"
    runner.invoke(app, ["sim", "--iterations", "16", "--duration", "60", "--seed", "3", "--json", str(again)])
    assert json.loads(again.read_text())["dps"] == data["dps"]  # same seed, same numbers


def test_sim_route_reports_pulls(tmp_path):
    out = tmp_path / "route.json"
    result = runner.invoke(app, ["sim", "--fight", "route", "--route", "short_test", "--iterations", "8",
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    route = json.loads(out.read_text())["route"]
    assert route["cleared_share"] == 1.0 and len(route["pulls"]) == 3
    assert 0 < route["clear_time"]["mean"] < route["timer"]
    assert all(pull["duration_mean"] > 0 for pull in route["pulls"])
    assert 0 < route["player_damage_share"] < 1


def test_bad_input_is_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.simc"
    bad.write_text('paladin="X"\nspec=retribution\ngear_strength=strong\n')
    result = runner.invoke(app, ["sim", "--profile", str(bad), "--iterations", "2"])
    assert result.exit_code == 2
    assert f"{bad}:3: gear_strength must be a number" in result.output.replace("\n", "")
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["sim", "--fight", "raid", "--iterations", "2"])
    assert result.exit_code == 2 and "--fight must be one of" in result.output


def test_bench_sim_writes_json_for_both_import_orders(tmp_path):
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", "sim", "--batch-sizes", "8", "--steps", "4", "--repeats", "2",
                                 "--policies", "simple", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [(row["import_order"], row["batch"]) for row in data["results"]] == [("sim-first", 8), ("jax-first", 8)]
    assert all(row["steps_per_second"] > 0 and len(row["repeats"]) == 2 for row in data["results"])
    assert set(data["order_ratio"]) == {"sim-first simple 8", "jax-first simple 8"}
    assert data["environment"]["jax"] and "sim-first" in result.output and "jax-first / sim-first" in result.output


def test_search_command_prints_a_recommendation(tmp_path):
    out = tmp_path / "rec.json"
    # Sampled futures (the expected-value default is the Planner tests/test_search.py runs).
    result = runner.invoke(app, ["search", "--state-from-sim-at", "12", "--simulations", "16", "--depth", "2",
                                 "--sampled", "--worlds", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "recommended:" in result.output and "hold cooldowns:" in result.output
    data = json.loads(out.read_text())
    assert data["num_simulations"] == 16 and sum(row["visits"] for row in data["actions"]) == 2 * 16
    assert data["best_action"] in [row["name"] for row in data["actions"]]
    assert data["tree"]["children"] and all("children" in child for child in data["tree"]["children"])
    bad = runner.invoke(app, ["search", "--policy", "alphago"])
    assert bad.exit_code == 2 and "policy must be one of" in bad.output


def test_search_and_demo_plan_for_the_players_own_damage_when_asked(monkeypatch):
    import search
    from overlay import launch
    from portunus import cli
    from train.envs import MAX_OWN_DAMAGE_WEIGHT

    class Recorded(Exception):
        pass

    planned = []

    def record(fight):   # stands in for the planner and the demo window: what would they plan for?
        planned.append(fight.own_damage_weight)
        raise Recorded

    monkeypatch.setattr(search, "state_from_sim", lambda env, *args: record(env.fight))
    monkeypatch.setattr(launch, "build_demo", lambda config, fight, *args, **kwargs: record(fight))
    monkeypatch.setattr(cli, "_check_display", lambda virtual: None)
    for command in (["search", "--fight", "aoe", "--own-damage", "1.5"], ["search", "--fight", "aoe"],
                    ["demo", "--fight", "route", "--own-damage", "2", "--policy", "apl"]):
        result = runner.invoke(app, command)
        assert isinstance(result.exception, Recorded), result.output
    assert planned == [1.5, 0.0, 2.0]
    assert cli.MAX_OWN_DAMAGE_WEIGHT == MAX_OWN_DAMAGE_WEIGHT   # the option's bound is the fight names' own
    for bad, message in ((["--fight", "patchwerk", "--own-damage", "1"],
                          "--own-damage: the player's own damage weighs in fights that end when their enemies die"),
                         (["--fight", "aoe", "--own-damage", "11"], "--own-damage must be a number from 0 to 10, got 11")):
        result = runner.invoke(app, ["search", *bad])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_bench_search_writes_json(tmp_path):
    out = tmp_path / "search.json"
    # The network evaluator only: the APL one is the same Planner tests/test_search.py runs,
    # and compiling its rollouts twice more would cost a minute of CI.
    # network+rollouts with 0-step rollouts (the leaf's own tail, nothing more to compile).
    result = runner.invoke(app, ["bench", "search", "--simulations", "8", "--batch-sizes", "4", "--repeats", "3",
                                 "--evaluators", "network,network+rollouts", "--rollout-steps", "0",
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert [(row["evaluator"], row["rollout_steps"], row["batch"], row["simulations"]) for row in rows] == [
        ("network", None, 1, 8), ("network", None, 4, 64),
        ("network+rollouts", 0, 1, 8), ("network+rollouts", 0, 4, 64)]
    assert all(row["p95_ms"] >= row["median_ms"] > 0 for row in rows)


def test_bench_serve_names_a_bad_checkpoint_before_starting_a_service(tmp_path, monkeypatch):
    import portunus.service.loadtest as loadtest

    def no_service(args, **_):
        raise AssertionError(f"a service was started with {args}")

    monkeypatch.setattr(loadtest, "running_service", no_service)
    result = runner.invoke(app, ["bench", "serve", "--checkpoint", str(tmp_path / "nope"), "--seconds", "1",
                                 "--json", str(tmp_path / "serve.json")])
    assert result.exit_code == 2 and "nope is neither a model directory" in " ".join(result.output.split())
    assert not (tmp_path / "serve.json").exists()


def test_overlay_and_demo_reject_bad_settings_before_opening_a_window(tmp_path):
    config = tmp_path / "overlay.toml"
    config.write_text("tree_depth = 9\n")
    result = runner.invoke(app, ["overlay", "--config", str(config)])
    assert result.exit_code == 2 and f"{config}:1: tree_depth must be a whole number from 1 to 6" in result.output
    result = runner.invoke(app, ["demo", "--policy", "magic"])
    assert result.exit_code == 2 and "--policy must be one of apl, net, mcts" in result.output


def test_addon_tables_command_regenerates_the_lua(tmp_path):
    from portunus.addon_tables import SPECS_DIR

    result = runner.invoke(app, ["addon-tables", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "RetributionPaladin.lua"
    assert written.read_text() == (SPECS_DIR / "RetributionPaladin.lua").read_text()


def test_bench_retail_writes_each_view_beside_the_games_pick(tmp_path):
    out = tmp_path / "retail.json"
    result = runner.invoke(app, ["bench", "retail", "--fight", "patchwerk:10", "--episodes", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    views = json.loads(out.read_text())["views"]
    assert list(views) == ["full", "retail", "retail_belief", "retail_particles", "assistant"]
    assert views["assistant"]["versus_full"]["percent"]["n"] == 2
    assert views["retail_belief"]["versus_assistant"]["percent"]["n"] == 2 and "assistant" in result.output
