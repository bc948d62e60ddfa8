"""The in-game addon, run for real: its Lua 5.1 under lupa against a mock of the WoW
API, its cells decoded by the Python decoder."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings

import sim
from portunus.addon_tables import ADDON_DIR, SPECS_DIR, addon_specs, lua_file_name, lua_spec_table
from portunus.protocol import decode
from tests.addon_game import games
from tests.addon_harness import Addon, toc_files

SPEC = sim.load_spec()


def play(addon: Addon, game: dict, expected) -> None:
    """Log in, enter combat when the game says so, and draw one frame at `game['now']`."""
    addon.fire("ADDON_LOADED", "Portunus")
    if expected.combat_time is not None:
        addon.set_game({"now": game["now"] - expected.combat_time})
        addon.fire("PLAYER_REGEN_DISABLED")
    addon.set_game(game)
    addon.tick()


def check_round_trip(retail: bool, game: dict, expected) -> None:
    addon = Addon(retail=retail)
    play(addon, game, expected)
    assert addon.ns.lastError is None, addon.ns.lastError    # no API call raised, secrets included
    decoded = decode(addon.render())
    assert decoded == dataclasses.replace(expected, frame=decoded.frame)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(games(SPEC, retail=True))
def test_retail_snapshot_survives_addon_and_decoder_exactly(case):
    """Secret values included: they arrive as unknown, and the addon never computes on one."""
    check_round_trip(True, *case)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(games(SPEC, retail=False))
def test_classic_api_fallbacks_give_the_same_snapshot(case):
    check_round_trip(False, *case)


def test_frame_counter_increases_with_every_redraw():
    addon = Addon()
    addon.fire("ADDON_LOADED", "Portunus")
    frames = []
    for _ in range(4):
        addon.tick(0.11)                       # the default 10 Hz
        frames.append(decode(addon.render()).frame)
    assert frames == [frames[0] + i for i in range(4)]
    addon.tick(0.01)                           # too soon and nothing changed: no redraw
    assert decode(addon.render()).frame == frames[-1]
    addon.fire("UNIT_AURA", "player")          # a relevant event redraws on the next frame
    addon.tick(0.01)
    assert decode(addon.render()).frame == frames[-1] + 1


@pytest.mark.parametrize("physical_height, ui_scale", [(1080, 1.0), (1440, 0.71), (2160, 0.64), (1200, 1.15)])
def test_cells_land_on_whole_physical_pixels_at_any_ui_scale(physical_height, ui_scale):
    addon = Addon()
    addon.set_game({"physicalHeight": physical_height, "uiScale": ui_scale})
    addon.fire("ADDON_LOADED", "Portunus")
    addon.command("cell 4")
    addon.command("pos 17 9")
    addon.tick()
    assert addon.pixels_per_unit() == pytest.approx(1.0)
    image = addon.render()                     # asserts every cell edge is a whole pixel
    assert image.shape[0] == 9 + 4 + 3
    assert decode(image).spec_id == 0


def test_slash_command_changes_and_validates_settings():
    addon = Addon(saved_settings={"cellSize": 99, "rate": "fast", "x": 5})
    addon.fire("ADDON_LOADED", "Portunus")
    db = addon.g.PortunusDB
    assert (db.cellSize, db.rate, db.x) == (3, 10, 5)     # bad saved values replaced, good ones kept
    assert "from 1 to 16" in addon.command("cell 0")
    addon.command("cell 5")
    addon.command("rate 30")
    addon.command("enemies 2")
    assert (db.cellSize, db.rate, db.maxEnemies) == (5, 30, 2)
    assert "unknown spec '12345'" in addon.command("spec 12345")
    addon.command(f"spec {SPEC.wow_spec_id}")
    assert db.spec == SPEC.wow_spec_id
    addon.command("hide")
    assert not addon.g.PortunusBarcode.shown and db.shown is False
    addon.command("show")
    assert "shown, cell 5 px" in addon.command("status")
    assert "/portunus show" in addon.command("nonsense")


def test_spec_tables_are_generated_from_the_spec_files():
    for spec in addon_specs():
        path = SPECS_DIR / lua_file_name(spec)
        assert path.read_text() == lua_spec_table(spec), f"{path} is stale: run `portunus addon-tables`"
        assert any(p.name == path.name for p in toc_files())


def test_toc_lists_every_lua_file_and_supported_clients():
    listed = {p.resolve() for p in toc_files()}
    assert listed == {p.resolve() for p in ADDON_DIR.rglob("*.lua")}
    interface = next(line for line in (ADDON_DIR / "Portunus.toc").read_text().splitlines()
                     if line.startswith("## Interface:"))
    versions = [int(v) for v in interface.split(":")[1].split(",")]
    assert any(v >= 120000 for v in versions) and any(v < 20000 for v in versions)


def test_luacheck_finds_nothing():
    luacheck = shutil.which("luacheck")
    assert luacheck, "luacheck is missing: .ci/run installs Debian's lua-check"
    result = subprocess.run([luacheck, "--no-color", "--formatter", "plain", str(ADDON_DIR)],
                            capture_output=True, text=True, cwd=ADDON_DIR.parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr
