"""The overlay, in a real window: DearPyGui on Xvfb with Mesa's software GL, captured with mss."""

from __future__ import annotations

import concurrent.futures
import multiprocessing

import jax
import numpy as np
import pytest

import sim
from overlay import OverlayConfig, Recommender, load_config, save_window
from overlay.display import virtual_display
from overlay.tree_layout import layout
from portunus.errors import InputError
from tests import overlay_scenarios as scenarios


@pytest.fixture(scope="module")
def display():
    with virtual_display(2560, 800) as name:   # a strip with the Retribution tables is up to ~1900 px wide
        yield name


def run_isolated(scenario) -> None:
    """Run a GUI scenario in a fresh process on the test display; its assertion errors come back."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(scenario).result(timeout=600)


def test_demo_window_draws_recommendations_that_change(display):
    """The demo on the search (16 simulations): icon, tree and texts drawn, and they move with the fight."""
    run_isolated(scenarios.demo_window_draws_recommendations_that_change)


def test_capture_path_end_to_end(display):
    """A window draws an encoder-made barcode; mss grabs the screen; the decoder returns the exact snapshot."""
    run_isolated(scenarios.capture_path_end_to_end)


def test_missing_damaged_and_stale_barcodes_show_in_the_ui(display):
    run_isolated(scenarios.missing_damaged_and_stale_barcodes_show_in_the_ui)


def test_recommender_modes_and_hold_cooldowns():
    from train.network import init_network

    env = sim.make(expected_value=True)
    module, params = init_network(env, jax.random.key(0), width=32, blocks=1)
    recommender = Recommender(env, module.apply, params)
    state = env.init(jax.random.key(0))           # every major cooldown is ready at the pull
    major = set(np.asarray(env.spec.action_names)[env.spec.action_major_cooldown])
    legal = {name for name, ok in zip(env.spec.action_names, np.asarray(state.legal_action_mask)) if ok}
    for mode in ("apl", "net"):
        advice = recommender.advise(state, mode)
        assert advice.best in legal and advice.hold in legal and advice.hold not in major
        assert advice.tree["children"][0]["name"] == advice.best
    # With Expurgation burning (Holy Flames waits for it), the default APL opens with a cooldown.
    expurgation = env.spec.debuff_names.index("expurgation")
    burning = state.replace(debuff_remaining=state.debuff_remaining.at[0, expurgation].set(9.0))
    assert recommender.advise(burning.replace(legal_action_mask=env.legal_action_mask(burning)), "apl").best in major
    with pytest.raises(ValueError, match="policy mode must be one of"):
        recommender.advise(state, "magic")
    assert Recommender(env).modes == ("apl", "mcts")


def test_tree_layout_puts_the_best_branch_on_top():
    tree = {"name": None, "visits": 30, "children": [
        {"name": "a", "visits": 20, "q": 1.0, "children": [{"name": "c", "visits": 12, "q": 0.5, "children": []},
                                                           {"name": "d", "visits": 8, "q": 0.4, "children": []}]},
        {"name": "b", "visits": 10, "q": 0.9, "children": [{"name": "e", "visits": 9, "q": 0.3, "children": []}]}]}
    nodes = layout(tree, depth=2, width=300, height=90)
    by_name = {n.name: n for n in nodes}
    assert by_name["a"].y < by_name["b"].y and by_name["c"].y < by_name["d"].y < by_name["e"].y
    assert by_name[None].x < by_name["a"].x < by_name["c"].x
    assert [n.name for n in nodes if n.on_best_path] == [None, "a", "c"]
    assert all(0 <= n.x <= 300 and 0 <= n.y <= 90 for n in nodes)
    assert len(layout(tree, depth=1, width=300, height=90)) == 3


def test_config_errors_name_the_key_and_saving_keeps_comments(tmp_path):
    path = tmp_path / "overlay.toml"
    path.write_text('# my settings\npolicy = "mcts"\nsimulations = "many"\n')
    with pytest.raises(InputError, match=r"overlay.toml:3: simulations must be a whole number"):
        load_config(path)
    path.write_text('# my settings\npolicy = "mcts"\nrefresh = 100\n')
    with pytest.raises(InputError, match=r":3: unknown key 'refresh' \(did you mean 'refresh_ms'\?\)"):
        load_config(path)
    path.write_text('belief_particles = -4\n')
    with pytest.raises(InputError, match=r":1: belief_particles must be a whole number from 0 to 256, got -4"):
        load_config(path)
    path.write_text('belief_particles = 0\n')
    assert load_config(path).belief_particles == 0
    path.write_text('# my settings\npolicy = "alpha"\n')
    with pytest.raises(InputError, match="policy must be one of apl, net, mcts"):
        load_config(path)
    path.write_text('# my settings\npolicy = "apl"  # fast\n[keybinds]\njudgment = "2"\n')
    config = load_config(path)
    assert config.policy == "apl" and config.keybinds == {"judgment": "2"}
    config.x, config.width = 333, 700
    save_window(path, config)
    text = path.read_text()
    assert "# my settings" in text and "# fast" in text and 'judgment = "2"' in text
    again = load_config(path)
    assert (again.x, again.width, again.policy, again.keybinds) == (333, 700, "apl", {"judgment": "2"})
    assert load_config(tmp_path / "missing.toml") == OverlayConfig()


def test_bench_overlay_command_writes_json(display, tmp_path):
    """The real command in its own process (one DearPyGui viewport per process), on what retail
    combat shows: every refresh decodes the screen and builds the belief the overlay plans over."""
    import json
    import subprocess
    import sys

    out = tmp_path / "overlay.json"
    result = subprocess.run([sys.executable, "-m", "portunus.cli", "bench", "overlay", "--policy", "apl",
                             "--simulations", "1", "--refreshes", "5", "--view", "retail", "--json", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    row = json.loads(out.read_text())["results"][0]
    assert row["refreshes"] == 5 and row["view"] == "retail"
    assert 0 < row["grab_decode"]["median_ms"] <= row["total"]["p95_ms"] and row["state"]["median_ms"] > 0
    bad = subprocess.run([sys.executable, "-m", "portunus.cli", "bench", "overlay", "--simulations", "64,x"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--simulations must be a whole number from 1 to 4,096, got 'x'" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "portunus.cli", "bench", "overlay", "--view", "secret"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--view must be full or retail, got 'secret'" in bad.stderr
