"""Bad profiles, specs, routes, files, models and command-line options give errors naming the
file (and line) or the option, never a traceback and never a run on nonsense."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sim
from portunus.cli import app
from portunus.errors import InputError
from portunus.profile import parse_profile
from sim.spec import SPEC_DIR, compile_spec
from tests.conftest import TEST_PROFILE

REPO = Path(__file__).resolve().parent.parent


def error_of(function, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        function(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize("bad_line, message", [
    ("this line has no equals sign", "expected 'key=value'"),
    ("gear_crit_rating=lots", "gear_crit_rating must be a number"),
    ("gear_haste_rating=-5", "gear_haste_rating must be a number from 0 to 1,000,000, got -5.0"),
    ("gear_strength=nan", "gear_strength must be a number from 0 to 1,000,000, got nan"),
    ("gear_haste_rating=inf", "gear_haste_rating must be a number from 0 to 1,000,000, got inf"),
    ("gear_haste_rating=1e308", "gear_haste_rating must be a number from 0 to 1,000,000, got 1e+308"),
    ("gear_mastery_rating=-inf", "gear_mastery_rating must be a number"),
    ("main_hand=,id=1,weapon=2h_3.60speed_" + "9" * 400 + "min_" + "9" * 401 + "max", "weapon min must be a number"),
    ("main_hand=,id=1,weapon=2h_0.01speed_900min_1100max", "weapon speed must be a number from 0.5 to 10"),
    ("level=ninety", "level must be a whole number"),
    ("gear_critt_rating=5", "unknown profile key 'gear_critt_rating'"),
    ("head=,id=abc", "item id must be a number"),
    ("main_hand=,id=1,weapon=sword", "weapon 'sword' must look like"),
    ('warrior="Second"', "a second character"),
])
def test_malformed_profile_lines_name_the_line(bad_line, message):
    text = TEST_PROFILE.strip() + "\n" + bad_line + "\n"
    error = error_of(parse_profile, text, "me.simc")
    assert message in str(error)
    assert error.line == len(text.strip().splitlines())
    assert str(error).startswith(f"me.simc:{error.line}:")


def test_profile_without_character_or_spec():
    assert "no character line" in str(error_of(parse_profile, "spec=retribution\n", "x.simc"))
    assert "no 'spec=' line" in str(error_of(parse_profile, 'paladin="A"\n', "x.simc"))


def test_profile_for_another_spec_is_refused():
    profile = parse_profile(TEST_PROFILE.replace("spec=retribution", "spec=holy"), "holy.simc")
    error = error_of(sim.make, "retribution_paladin", profile)
    assert "holy paladin" in str(error) and "retribution_paladin" in str(error)


def test_unknown_items_and_missing_stats_are_reported():
    profile = parse_profile('paladin="A"\nspec=retribution\nhead=,id=12345\n', "a.simc")
    notes = " ".join(profile.notes)
    assert "1 item line(s)" in notes and "no item database" in notes
    assert "no gear_crit_rating line" in notes


def test_unknown_spec_suggests_a_name():
    error = error_of(sim.load_spec, "retribution_paladn")
    assert "unknown spec 'retribution_paladn'" in str(error) and "did you mean 'retribution_paladin'" in str(error)


SPEC_TEXT = (SPEC_DIR / "retribution_paladin.toml").read_text()


@pytest.mark.parametrize("old, new, message", [
    ('applies_debuffs = ["expurgation"]', 'applies_debuffs = ["expurgaton"]',
     "unknown debuff 'expurgaton' in 'applies_debuffs' (did you mean 'expurgation'?)"),
    ("coefficient = 1.4 ", "coefficient = \"big\" ", "'coefficient' must be a finite number"),
    ('gain = { holy_power = 1 }      # 220637', 'gain = { holy_powr = 1 }', "unknown resource 'holy_powr'"),
    ('targets = "all"', 'targets = "cone"', "'targets' = 'cone': expected one of"),
    ("cooldown_hasted = true", "cooldown_hastd = true", "unknown key 'cooldown_hastd'"),
])
def test_malformed_spec_names_the_entry_and_line(old, new, message):
    text = SPEC_TEXT.replace(old, new, 1)
    assert text != SPEC_TEXT
    error = error_of(compile_spec, text, "ret.toml")
    assert message in str(error)
    broken_line = next(n for n, line in enumerate(text.splitlines(), 1) if new.split("#")[0].strip() in line)
    # The error points at the [[entry]] header that holds the bad field.
    header = max(n for n, line in enumerate(text.splitlines(), 1) if line.startswith("[[") and n <= broken_line)
    assert error.line == header


def test_spec_that_is_not_toml():
    assert "not valid TOML" in str(error_of(compile_spec, "[spec\nname=", "x.toml"))


ROUTE = """
timer = 300
key_level = 2
group_dps = 1000

[[pull]]
enemies = [ { name = "A", health = 1000, count = 2 } ]

[[pull]]
travel = 5
enemies = [ { name = "B", health = 2000 } ]
"""


@pytest.mark.parametrize("old, new, message, line", [
    ('{ name = "B", health = 2000 }', '{ name = "B" }', "pull 2: enemy 'B' needs 'health'", 9),
    ("count = 2", "count = 0", "pull 1: 'count' must be a whole number >= 1", 6),
    ("count = 2", "count = 30", "pull 1: 30 enemies; at most 20 per pull", 6),
    ("travel = 5", "travel = -5", "pull 2: 'travel' must be a number >= 0", 9),
    ("travel = 5", "travl = 5", "pull 2: unknown key 'travl' (did you mean 'travel'?)", 9),
    ("health = 1000", "health = \"lots\"", "pull 1: 'health' must be a number > 0", 6),
    ("key_level = 2", "key_level = 99", "key_level must be a whole number 0..40", 3),
    ("health = 1000", "health = nan", "pull 1: 'health' must be a number > 0", 6),
    ("health = 1000", "health = inf", "pull 1: 'health' must be a number > 0", 6),
    ("travel = 5", "travel = 1e9", "pull 2: 'travel' must be a number >= 0 and at most 7,200", 9),
    ("timer = 300", "timr = 300", "unknown route key 'timr' (did you mean 'timer'?)", 2),
])
def test_malformed_route_names_the_pull_and_line(old, new, message, line):
    error = error_of(sim.parse_route, ROUTE.replace(old, new), "r.toml")
    assert message in str(error)
    assert error.line == line


def test_route_file_errors():
    assert "not valid TOML" in str(error_of(sim.parse_route, "timer = [", "r.toml"))
    assert "needs 'pull'" in str(error_of(sim.parse_route, "timer = 5", "r.toml"))
    assert "no route file or shipped route 'nowhere'" in str(error_of(sim.load_route, "nowhere"))


def test_route_key_level_scales_health():
    base = sim.parse_route(ROUTE.replace("key_level = 2", "key_level = 0"), "r.toml")
    tenth = sim.parse_route(ROUTE, "r.toml", key_level=10)
    assert tenth.pull_health[0, 0] == pytest.approx(base.pull_health[0, 0] * 1.08 ** 10, rel=1e-5)
    assert base.num_slots == 2 and base.num_pulls == 2 and base.pull_health[1, 1] == 0.0


def test_shipped_routes_parse():
    full = sim.load_route("sample_keystone")
    assert 15 <= full.num_pulls <= 25 and sum(full.pull_is_boss) >= 3
    assert sim.load_route("short_test").num_pulls == 3


@pytest.mark.parametrize("old, new, message", [
    ("timer = 300", "timer = nan", "'timer' must be a number > 0"),
    ("timer = 300", "timer = 1e9", "'timer' must be a number > 0 and at most 7,200"),
    ("group_dps = 1000", "group_dps = inf", "'group_dps' must be a number >= 0"),
    ("group_dps = 1000", "group_dps = 1000\narmor_reduction = \"x\"", "'armor_reduction' must be a number"),
])
def test_route_numbers_must_be_finite_and_bounded(old, new, message):
    assert message in str(error_of(sim.parse_route, ROUTE.replace(old, new), "r.toml"))


@pytest.mark.parametrize("build, message", [
    (lambda: sim.patchwerk(duration=float("nan")), "patchwerk duration (seconds) must be a number"),
    (lambda: sim.patchwerk(duration=1e9), "patchwerk duration (seconds) must be a number from 0.001 to 3,600"),
    (lambda: sim.patchwerk(health=float("inf")), "patchwerk health must be a number"),
    (lambda: sim.aoe(targets=3, health_per_target=float("nan")), "aoe health per target must be"),
])
def test_fights_refuse_non_finite_numbers(build, message):
    assert message in str(error_of(build))


BINARY = b"first line\n" + bytes(range(128, 256))


def _loaders():
    from overlay.config import load_config as overlay_config
    from portunus.profile import load_profile
    from train.config import load_config as train_config

    return [load_profile, sim.load_route, overlay_config, train_config]


@pytest.mark.parametrize("index", range(4), ids=["profile", "route", "overlay config", "training config"])
def test_binary_files_are_named_with_their_line(tmp_path, index):
    path = tmp_path / "binary.toml"
    path.write_bytes(BINARY)
    error = error_of(_loaders()[index], path)
    assert str(error).startswith(f"{path}:2: ") and "is not UTF-8 text (byte 0x80 at column 1)" in str(error)


@pytest.mark.parametrize("text, message", [
    ('learning_rate = nan', "'learning_rate' must be a finite number, got nan"),
    ('gumbel_scale = inf', "'gumbel_scale' must be a finite number, got inf"),
    ('envs_per_fight = 9223372036854775807', "'envs_per_fight' must be an integer that fits 32 bits"),
    ('fights = ["patchwerk:nan"]', "patchwerk duration (seconds) must be a number"),
])
def test_training_config_numbers_are_finite(tmp_path, text, message):
    from train.config import load_config
    from train.envs import make_envs

    path = tmp_path / "train.toml"
    path.write_text(text + "\n")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_envs(load_config(path))


# --- damaged model directories: "not a Portunus model: <what>" ----------------------------------------

def _model_dir(tmp_path, info=None, info_bytes=None, params=None) -> Path:
    from train.model import DEFAULT_MODEL

    folder = tmp_path / "model"
    folder.mkdir()
    shipped = json.loads((DEFAULT_MODEL / "model.json").read_text())
    (folder / "model.json").write_bytes(info_bytes if info_bytes is not None else
                                        json.dumps(shipped if info is None else info(shipped)).encode())
    (folder / "params.msgpack").write_bytes(params if params is not None else
                                            (DEFAULT_MODEL / "params.msgpack").read_bytes())
    return folder


def _msgpack(tree) -> bytes:
    from flax import serialization

    return serialization.msgpack_serialize(tree)


DAMAGED_MODELS = {
    "model.json {}": (dict(info=lambda shipped: {}), "model.json has no 'spec' name"),
    "model.json [1,2]": (dict(info=lambda shipped: [1, 2]), "model.json holds a JSON list, not an object"),
    "model.json binary": (dict(info_bytes=BINARY), "model.json is not UTF-8 text"),
    "model.json no width": (dict(info=lambda shipped: {k: v for k, v in shipped.items() if k != "width"}),
                            "model.json 'width' must be a whole number 1..65536, got None"),
    "params without params": (dict(params=_msgpack({"weights": {"a": 1}})), "the parameters are not a policy/value"),
    "params binary": (dict(params=b"\x00\x01 not msgpack"), "params.msgpack is not flax msgpack"),
    "width mismatch": (dict(info=lambda shipped: {**shipped, "width": 64}),
                       "the parameters do not match width 64 and 2 blocks in model.json"),
    "blocks mismatch": (dict(info=lambda shipped: {**shipped, "blocks": 3}), "['params']['Dense_4']['bias'] is missing"),
    "search not an object": (dict(info=lambda shipped: {**shipped, "search": [24]}),
                             "model.json 'search' must be an object with at most value, rollout_steps, "
                             "max_num_considered_actions, got [24]"),
    "search unknown field": (dict(info=lambda shipped: {**shipped, "search": {"rollouts": 24}}),
                             "'search' must be an object with at most value, rollout_steps"),
    "search rollout steps": (dict(info=lambda shipped: {**shipped, "search": {"rollout_steps": "24"}}),
                             "model.json 'search' 'rollout_steps' must be a whole number 0..1000, got '24'"),
    "search value": (dict(info=lambda shipped: {**shipped, "search": {"value": "oracle"}}),
                     "model.json 'search' 'value' must be 'network' or 'rollout' or 'bootstrap', got 'oracle'"),
    "search considered actions": (dict(info=lambda shipped: {**shipped, "search": {"max_num_considered_actions": 0}}),
                                  "model.json 'search' 'max_num_considered_actions' must be a whole number 1..4096, got 0"),
}


@pytest.mark.parametrize("case", DAMAGED_MODELS)
def test_a_damaged_model_directory_is_not_a_portunus_model(tmp_path, case):
    from train.model import load_model

    damage, message = DAMAGED_MODELS[case]
    folder = _model_dir(tmp_path, **damage)
    error = str(error_of(load_model, folder))
    assert error.startswith(f"{folder}: not a Portunus model: ") and message in error, error


def test_a_model_for_another_fight_shape_is_refused_by_name():
    import dataclasses

    from train.envs import parse_fight
    from train.model import DEFAULT_MODEL, load_model

    model = load_model(DEFAULT_MODEL)
    env = sim.make(fight=parse_fight("patchwerk:300", model.slots))
    model.check_env(env)
    fewer = dataclasses.replace(model, info={**model.info, "num_actions": env.num_actions - 1})
    with pytest.raises(InputError, match=f"chooses among {env.num_actions - 1} actions; this character and "
                                         f"fight have {env.num_actions}"):
        fewer.check_env(env)
    with pytest.raises(InputError, match="reads 219 observation values"):
        model.check_env(sim.make(fight=parse_fight("patchwerk:300", 4)))


# --- the command line: one validation path for every option and file ---------------------------------

runner = CliRunner()


def refused(args, message):
    """The command exits 2 with `message` on one line, before doing any work."""
    result = runner.invoke(app, [str(arg) for arg in args])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "Traceback" not in output and message in output, output
    return output


@pytest.mark.parametrize("args, message", [
    (["sim", "--duration", "nan"], "--duration must be a number from 1 to 3,600, got nan"),
    (["sim", "--duration", "inf"], "--duration must be a number from 1 to 3,600, got inf"),
    (["sim", "--duration", "1e9"], "--duration must be a number from 1 to 3,600, got 1000000000.0"),
    (["sim", "--health", "nan"], "--health must be a number from 1 to"),
    (["sim", "--seed", "-1"], "--seed must be a whole number from 0 to 4,294,967,295, got -1"),
    (["sim", "--seed", str(2**70)], "--seed must be a whole number from 0 to 4,294,967,295"),
    (["sim", "--iterations", "0"], "--iterations must be a whole number from 1"),
    (["sim", "--fight", "aoe", "--targets", "0"], "--targets must be a whole number from 1 to 20"),
    (["sim", "--key-level", "99"], "--key-level must be a whole number from 0 to 40"),
    (["search", "--state-from-sim-at", "-5"], "--state-from-sim-at must be a number from 0 to 7,200, got -5.0"),
    (["search", "--state-from-sim-at", "nan"], "--state-from-sim-at must be a number from 0 to 7,200, got nan"),
    (["search", "--state-from-sim-at", "inf"], "--state-from-sim-at must be a number"),
    (["search", "--state-from-sim-at", "1e9"], "--state-from-sim-at must be a number"),
    (["search", "--simulations", "0"], "--simulations must be a whole number from 1 to 4,096"),
    (["search", "--sampled", "--worlds", "0"], "--worlds must be a whole number from 1 to 1,024"),
    (["evaluate", "--mcts", "futures:0"], "--mcts must be 'expected' or 'futures:N' (N 1-1024), each optionally"),
    (["evaluate", "--mcts", "expected@0"], "--mcts: simulations after '@' must be 1-4096, got 'expected@0'"),
    (["evaluate", "--mcts", "expected@nan"], "--mcts: simulations after '@' must be 1-4096, got 'expected@nan'"),
    (["evaluate", "--mcts", "expected@-8"], "--mcts: simulations after '@' must be 1-4096, got 'expected@-8'"),
    (["evaluate", "--mcts", "expected@" + "9" * 5000], "--mcts: simulations after '@' must be 1-4096"),
    (["evaluate", "--mcts", "futures:\u00b2"], "--mcts must be 'expected' or 'futures:N' (N 1-1024)"),
    (["bench", "sim", "--batch-sizes", "-1"], "--batch-sizes must be a whole number from 1 to 4,194,304, got -1"),
    (["bench", "sim", "--batch-sizes", "4,,8"], "--batch-sizes must be comma-separated whole numbers"),
    (["bench", "sim", "--import-orders", "jax-last"], "--import-orders: unknown name 'jax-last'"),
    (["bench", "search", "--simulations", "16,nan"], "--simulations must be a whole number from 1 to 4,096, got nan"),
    (["bench", "serve", "--seconds", "nan"], "--seconds must be a number from 1 to 120, got nan"),
    (["bench", "selfplay", "--envs-per-fight", "0"], "--envs-per-fight must be a whole number from 1"),
    (["serve", "--max-wait-ms", "nan"], "--max-wait-ms must be a number from 0 to 100, got nan"),
    (["serve", "--batch-sizes", "1,4096"], "--batch-sizes must be a whole number from 1 to 1,024, got 4096"),
    (["serve", "--rollout-steps", "-1"], "--rollout-steps must be a whole number from 0 to 64, got -1"),
    (["search", "--rollout-steps", "65"], "--rollout-steps must be a whole number from 0 to 64"),
    (["bench", "search", "--rollout-steps", "8,65"], "--rollout-steps must be a whole number from 0 to 64"),
    (["demo", "--speed", "nan"], "--speed must be a number from 0.1 to 20, got nan"),
    (["overlay", "--planner-timeout", "inf"], "--planner-timeout must be a number from 0.05 to 30, got inf"),
    (["train", "--seed", "-1"], "--seed must be a whole number from 0"),
    (["finetune", "--learning-rate-scale", "nan", "--from", "x", "--profile", "y"], "--learning-rate-scale must be"),
    (["finetune", "--simulations", "0", "--from", "x", "--profile", "y"], "--simulations must be a whole number from 1"),
    (["finetune", "--stagger", "-1", "--from", "x", "--profile", "y"], "--stagger must be a whole number from 0"),
    (["finetune", "--envs-per-fight", "0", "--from", "x", "--profile", "y"], "--envs-per-fight must be a whole number"),
    (["finetune", "--updates-per-iteration", "0", "--from", "x", "--profile", "y"],
     "--updates-per-iteration must be a whole number"),
    (["evaluate", "x", "--episodes", "1"], "--episodes must be a whole number from 2"),
    (["evaluate", "x", "--timeline", "1"], "--timeline must be a whole number from 2 to 60"),
    (["evaluate", "x", "--timeline", "61"], "--timeline must be a whole number from 2 to 60"),
    (["evaluate", "x", "--rollout-steps", "65"], "--rollout-steps must be a whole number from 0 to 64"),
])
def test_options_out_of_range_are_refused_before_any_work(args, message):
    refused(args, message)


@pytest.mark.parametrize("command", [
    ["sim", "--profile"], ["sim", "--apl"], ["sim", "--route"], ["sim", "--fight"], ["search", "--profile"],
    ["train", "--config"], ["overlay", "--config"], ["demo", "--config"], ["serve", "--profile"],
    ["bench", "selfplay", "--config"], ["finetune", "--from", "x", "--profile"], ["evaluate", "x", "--profile"],
])
def test_binary_files_on_the_command_line_name_option_file_and_line(tmp_path, command):
    path = tmp_path / "binary.toml"
    path.write_bytes(BINARY)
    refused(command + [path], f"{path}:2: {command[-1]} file is not UTF-8 text (byte 0x80 at column 1)")


def test_a_profile_with_non_finite_stats_does_not_simulate(tmp_path):
    path = tmp_path / "nan.simc"
    path.write_text(TEST_PROFILE.replace("gear_haste_rating=0", "gear_haste_rating=nan"))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "haste" in text)
    refused(["sim", "--profile", path, "--iterations", "2"], f"{path}:{line}: gear_haste_rating must be a number")


@pytest.mark.parametrize("make, option, message", [
    (lambda p: p.mkdir(), "--json", "is a folder; give a file name"),
    (lambda p: None, "--json", None),
])
def test_output_paths_are_checked_before_the_work(tmp_path, make, option, message):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = tmp_path / "out"
    make(target)
    if message:
        refused(["sim", option, target, "--iterations", "2"], f"--json: {target} {message}")
    refused(["sim", option, blocker / "sub" / "x.json", "--iterations", "2"],
            f"--json: cannot write {blocker / 'sub' / 'x.json'}: {blocker} is a file, not a folder")


@pytest.mark.parametrize("args, message", [
    (["train", "--run", "{file}"], "--run: {file} is a file, not a folder"),
    (["train", "--run", "{file}/run"], "--run: cannot write {file}/run/x: {file} is a file, not a folder"),
    (["export", "x", "{file}"], "OUT: {file} is a file, not a folder"),
    (["evaluate", "x", "--plot", "{folder}"], "--plot: {folder} is a folder; give a file name"),
    (["evaluate", "x", "--json", "{file}/e.json"], "--json: cannot write {file}/e.json: {file} is a file"),
    (["sim", "--report", "{file}"], "--report: {file} is a file, not a folder"),
    (["demo", "--screenshot", "{folder}/shot.png"], "--screenshot needs --seconds"),
    (["demo", "--seconds", "1", "--screenshot", "{file}/shot.png"], "--screenshot: cannot write {file}/shot.png"),
    (["plot", "x", "--out", "{file}/c.png"], "--out: cannot write {file}/c.png: {file} is a file"),
])
def test_unwritable_outputs_are_refused_before_the_work(tmp_path, args, message):
    file, folder = tmp_path / "a-file", tmp_path / "a-folder"
    file.write_text("x")
    folder.mkdir()
    fill = {"file": file, "folder": folder}
    refused([arg.format(**fill) for arg in args], message.format(**fill))


def test_a_damaged_checkpoint_on_the_command_line_is_not_a_portunus_model(tmp_path):
    folder = _model_dir(tmp_path, info=lambda shipped: {})
    refused(["search", "--checkpoint", folder], f"{folder}: not a Portunus model: model.json has no 'spec' name")


def test_search_refuses_a_moment_after_the_fight(tmp_path):
    refused(["search", "--duration", "60", "--state-from-sim-at", "90", "--checkpoint", "none"],
            "--state-from-sim-at must be before the fight's end (60 s), got 90")


def test_net_policy_without_a_network_is_refused_not_replaced():
    refused(["demo", "--policy", "net", "--checkpoint", "none"], "--policy net needs a trained model and "
            "--checkpoint none gives none")


@pytest.mark.parametrize("command", [["demo"], ["overlay"]])
def test_no_display_is_a_message_naming_virtual_display(command):
    """In a subprocess: were DearPyGui reached without a display, GLFW would abort the process."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "portunus.cli", *command, "--policy", "apl", "--checkpoint", "none",
                             "--seconds", "1"], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    message = " ".join(result.stderr.split())
    assert "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)" in message
    assert "add --virtual-display" in message


def test_display_problems_are_found_without_opening_a_window():
    from overlay.display import display_problem

    assert display_problem({}) == "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    assert "no X server at DISPLAY=:4321" in display_problem({"DISPLAY": ":4321"})
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert display_problem({"DISPLAY": "remote-host:0"}) is None
