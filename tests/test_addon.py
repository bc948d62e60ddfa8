"""The in-game addon, run for real: its Lua 5.1 under lupa against a mock of the WoW
API, its cells decoded by the Python decoder."""

from __future__ import annotations

import dataclasses
import importlib
import platform
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import sim
from portunus.addon_tables import ADDON_DIR, SPECS_DIR, addon_specs, lua_file_name, lua_spec_table
from portunus.protocol import decode, decode_frame, encode_frame
from portunus.protocol.barcode import STRIP_V2, cell_levels, coded
from tests.addon_game import games
from tests.addon_harness import SECRET, Addon, toc_files
from tests.snapshot_cases import random_snapshot

SPEC = sim.load_spec()


def play(addon: Addon, game: dict, expected) -> None:
    """Log in, enter combat when the game says so, and draw one frame at `game['now']`."""
    addon.fire("ADDON_LOADED", "Portunus")
    if expected.combat_time is not None:
        addon.set_game({"now": game["now"] - expected.combat_time})
        addon.fire("PLAYER_REGEN_DISABLED")
    addon.set_game(game)
    addon.tick()


def check_round_trip(retail: bool, game: dict, expected, can_access: bool = True) -> None:
    addon = Addon(retail=retail, can_access=can_access)
    play(addon, game, expected)
    assert addon.ns.lastError is None, addon.ns.lastError    # no API call raised, secrets included
    decoded = decode(addon.render())
    assert decoded == dataclasses.replace(expected, frame=decoded.frame)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(games(SPEC, retail=True))
def test_retail_snapshot_survives_addon_and_decoder_exactly(case):
    """Secret values included: they arrive as unknown, and the addon never computes on one."""
    check_round_trip(True, *case)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(games(SPEC, retail=True))
def test_clients_without_canaccessvalue_use_issecretvalue(case):
    check_round_trip(True, *case, can_access=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(games(SPEC, retail=False))
def test_classic_api_fallbacks_give_the_same_snapshot(case):
    check_round_trip(False, *case)


@pytest.mark.parametrize("runtime", ["lua51", "luajit21"])
def test_lua_reed_solomon_and_cells_match_python(runtime):
    """The strip the addon draws is the one the decoder expects, parity bytes included (the
    decoder does not look at parity when the CRC passes, so only this test checks them): in
    plain Lua 5.1 (nibble-table XOR) and in a Lua with the `bit` library, as every WoW client has."""
    try:
        lupa_runtime = importlib.import_module(f"lupa.{runtime}")
    except ImportError:
        if runtime == "lua51":
            raise                     # lupa ships Lua 5.1 everywhere: its absence is a failure
        pytest.skip(f"platform limit: lupa has no {runtime} build for {platform.system()} {platform.machine()} "
                    "(LuaJIT is not shipped on every platform)")
    lua = lupa_runtime.LuaRuntime(unpack_returned_tuples=True)
    namespace = lua.table()
    load = lua.eval("function(src, ns) assert(loadstring(src, '@Frame.lua'))('Portunus', ns) end")
    load((ADDON_DIR / "Frame.lua").read_text(), namespace)
    frame_lua = namespace.Frame
    assert frame_lua.usesBitLibrary == (runtime == "luajit21")
    rng = np.random.default_rng(21)
    for _ in range(12):
        frame = encode_frame(random_snapshot(rng))
        lua_bytes = lua.table_from(list(frame))
        strip = frame_lua.coded(lua_bytes)
        assert bytes(strip[i] for i in range(1, len(strip) + 1)) == coded(frame, STRIP_V2)
        cells = frame_lua.cells(lua_bytes)
        colors = [[cells[i][c] for c in (1, 2, 3)] for i in range(1, len(cells) + 1)]
        assert np.array_equal(np.array(colors), cell_levels(frame))
        crc = frame_lua.crc32(lua.table_from(list(frame[:-4])))
        assert bytes(crc[i] for i in range(1, 5)) == frame[-4:]


RET = {name: spell for name, spell in zip(SPEC.ability_names, SPEC.ability_spell_ids)}


def _cooldown(addon: Addon, name: str):
    snapshot = decode(addon.render())
    return snapshot.cooldowns[SPEC.ability_names.index(name)]


def test_cooldown_remaining_is_estimated_from_the_players_own_cast():
    """Out of combat the addon reads Wake of Ashes' 30 s cooldown; in combat the times turn
    secret, and the remaining time is the cached duration minus the time since the player's
    own cast, flagged as an estimate; when the ready flag comes back it is exactly 0."""
    spell = RET["wake_of_ashes"]
    addon = Addon()
    addon.fire("ADDON_LOADED", "Portunus")
    addon.set_game({"now": 5000.0, "specIndex": 1, "specId": SPEC.wow_spec_id, "inCombat": False,
                    "cooldowns": {spell: {"startTime": 4999.0, "duration": 30.0, "isActive": True,
                                          "isOnGCD": False}}})
    addon.fire("UNIT_SPELLCAST_SUCCEEDED", "player", "Cast-1", spell)
    addon.tick()
    readable = _cooldown(addon, "wake_of_ashes")
    assert (readable.remaining, readable.estimated, readable.duration, readable.ready) == (29.0, False, 30.0, False)
    addon.set_game({"now": 5012.5, "inCombat": True,
                    "cooldowns": {spell: {"startTime": SECRET, "duration": SECRET, "isActive": True,
                                          "isOnGCD": False}}})
    addon.tick()
    estimate = _cooldown(addon, "wake_of_ashes")
    assert (estimate.remaining, estimate.estimated, estimate.since_cast, estimate.ready) == (17.5, True, 12.5, False)
    addon.set_game({"now": 5031.0})                    # the estimate ran out, the game says not ready
    addon.tick()
    late = _cooldown(addon, "wake_of_ashes")
    assert (late.remaining, late.estimated, late.ready) == (None, None, False)
    addon.set_game({"cooldowns": {spell: {"startTime": SECRET, "duration": SECRET, "isActive": False,
                                          "isOnGCD": False}}})
    addon.tick()
    ready = _cooldown(addon, "wake_of_ashes")
    assert (ready.remaining, ready.estimated, ready.ready, ready.charges) == (0.0, False, True, 1)
    assert addon.ns.lastError is None


def test_recharge_is_estimated_from_the_cast_that_started_it():
    """Crusader Strike, 2 charges, count and times secret: the flags give 1 of 2, the recharge
    began at the cast that spent the first charge."""
    spell = RET["crusader_strike"]
    addon = Addon()
    addon.fire("ADDON_LOADED", "Portunus")
    full = {"currentCharges": 2, "maxCharges": 2, "cooldownStartTime": 0, "cooldownDuration": 5.2, "isActive": False}
    addon.set_game({"now": 100.0, "specIndex": 1, "specId": SPEC.wow_spec_id, "charges": {spell: full}})
    addon.tick()
    assert _cooldown(addon, "crusader_strike").duration == 5.2        # the recharge time, cached
    addon.fire("UNIT_SPELLCAST_SUCCEEDED", "player", "Cast-2", spell)
    secret = {"currentCharges": SECRET, "maxCharges": 2, "cooldownStartTime": SECRET,
              "cooldownDuration": SECRET, "isActive": True}
    addon.set_game({"now": 102.0, "charges": {spell: secret}})
    addon.tick()
    one = _cooldown(addon, "crusader_strike")
    assert (one.charges, one.max_charges, one.ready, one.remaining, one.estimated) == (1, 2, True, 3.2, True)


def test_proc_glow_events_on_clients_without_the_query():
    spell = RET["divine_storm"]
    addon = Addon(retail=False)
    addon.fire("ADDON_LOADED", "Portunus")
    addon.set_game({"specIndex": 1, "specId": SPEC.wow_spec_id})
    addon.tick()
    assert _cooldown(addon, "divine_storm").overlayed is None          # never told: unknown
    addon.fire("SPELL_ACTIVATION_OVERLAY_GLOW_SHOW", spell)
    addon.tick()
    assert _cooldown(addon, "divine_storm").overlayed is True
    addon.fire("SPELL_ACTIVATION_OVERLAY_GLOW_HIDE", spell)
    addon.tick()
    assert _cooldown(addon, "divine_storm").overlayed is False


def test_retail_reads_the_spec_without_the_deprecated_globals():
    addon = Addon()
    assert addon.g.GetSpecialization is None and addon.g.GetSpecializationInfo is None
    addon.fire("ADDON_LOADED", "Portunus")
    addon.set_game({"specIndex": 1, "specId": SPEC.wow_spec_id})
    addon.tick()
    snapshot = decode(addon.render())
    assert snapshot.spec_id == SPEC.wow_spec_id and len(snapshot.cooldowns) == SPEC.num_abilities


def test_addon_draws_protocol_version_2():
    addon = Addon()
    addon.fire("ADDON_LOADED", "Portunus")
    addon.tick()
    frame = addon.ns.Frame.encode(addon.ns.lastSnapshot, 0)
    assert frame[3] == 2                                  # the version byte
    assert decode_frame(bytes(frame[i] for i in range(1, len(frame) + 1))).spec_id == 0


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


# The newest interface number of each client the addon loads on, as of October 2026
# (shared/reference/wow-12-addon-api.md). A TOC without a current number is "Incompatible" on
# 12.x and "out of date" elsewhere: README "Keeping the addon loadable" says how to update both.
CURRENT_INTERFACES = {"retail": 120105, "mists_classic": 50504, "tbc_anniversary": 20506, "classic_era": 11509}


def test_toc_lists_every_lua_file_and_current_clients():
    listed = {p.resolve() for p in toc_files()}
    assert listed == {p.resolve() for p in ADDON_DIR.rglob("*.lua")}
    interface = next(line for line in (ADDON_DIR / "Portunus.toc").read_text().splitlines()
                     if line.startswith("## Interface:"))
    versions = [int(v) for v in interface.split(":")[1].split(",")]
    for client, current in CURRENT_INTERFACES.items():
        same_major = [v for v in versions if v // 10000 == current // 10000]
        assert same_major and max(same_major) >= current, f"{client}: TOC lists {same_major}, current is {current}"


def test_luacheck_finds_nothing():
    luacheck = shutil.which("luacheck")
    assert luacheck, "luacheck is missing: .ci/run installs Debian's lua-check"
    result = subprocess.run([luacheck, "--no-color", "--formatter", "plain", str(ADDON_DIR)],
                            capture_output=True, text=True, cwd=ADDON_DIR.parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_strip_wider_than_the_screen_is_reported():
    """16 enemies at 3 px cells do not fit a 1920 px wide screen: the addon says so once (the
    default, 4 enemies, is 1851 px)."""
    addon = Addon()
    addon.set_game({"physicalHeight": 1080, "specIndex": 1, "specId": SPEC.wow_spec_id, "units": {
        f"nameplate{i}": {"canAttack": True, "dead": False, "guid": f"Creature-{i}", "health": 1, "maxHealth": 2,
                          "auras": []} for i in range(1, 17)}})
    addon.fire("ADDON_LOADED", "Portunus")
    addon.tick()
    assert "past the screen" not in addon.command("status")     # 4 enemies: 1851 px
    before = len(addon.g.MOCK.printed)
    addon.command("enemies 16")
    addon.tick()
    printed = [addon.g.MOCK.printed[i] for i in range(before + 1, len(addon.g.MOCK.printed) + 1)]
    assert any("runs past the screen's right edge" in line for line in printed)
    assert "past the screen's edge" in addon.command("status")
