"""GUI scenarios of tests/test_overlay.py. Each runs in its own process: DearPyGui
cannot create a second viewport in a process that already destroyed one."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

import sim
from overlay import OverlayConfig, Recommender, ScreenSource, build_demo
from overlay.app import OverlayApp, settings_from
from overlay.launch import live_env
from overlay.sources import DAMAGED, NO_SIGNAL, OK, STALE
from overlay.worker import PlannerWorker
from portunus.protocol import decode_frame, encode, encode_frame
from tests.snapshot_cases import random_snapshot


def grab(config: OverlayConfig) -> np.ndarray:
    import mss

    with mss.MSS() as grabber:
        shot = grabber.grab({"left": config.x, "top": config.y, "width": config.width, "height": config.height})
    return np.asarray(shot)[:, :, [2, 1, 0]].astype(np.int16)


def demo_window_draws_recommendations_that_change():
    """The demo on the search (16 simulations): icon, tree and texts drawn, and they move with the fight."""
    config = OverlayConfig(x=0, y=0, policy="mcts", simulations=16, refresh_ms=150, fps=20)
    app = build_demo(config, sim.patchwerk(duration=60), speed=4.0)
    shots, names = [], []

    def on_frame(window):
        if window.worker.refreshes >= 3 + 4 * len(shots) and len(shots) < 3:
            shots.append(grab(config))
            names.append(window.worker.latest.advice.best if window.worker.latest.advice else None)

    app.run(max_seconds=150, on_frame=lambda w: (on_frame(w), len(shots) == 3 and w.close()))
    assert len(shots) == 3, f"only {app.worker.refreshes} refreshes"
    latest = app.worker.latest
    assert latest.reading.status == OK and latest.advice is not None and latest.advice.simulations == 16
    background = np.median(shots[0].reshape(-1, 3), axis=0)

    def drawn(image, top, left, bottom, right):
        """Share of pixels in the box that differ from the window background."""
        return float((np.abs(image[top:bottom, left:right] - background).max(-1) > 24).mean())

    for shot in shots:
        assert drawn(shot, 30, 8, 126, 104) > 0.5          # the recommended ability's icon
        assert drawn(shot, 30, 180, 240, 560) > 0.02       # the search tree
        assert drawn(shot, 260, 8, 300, 400) > 0.02        # the status and timing lines
    changed = [float((np.abs(a - b).max(-1) > 24).mean()) for a, b in zip(shots, shots[1:])]
    assert max(changed) > 0.005, "the window did not change while the fight went on"
    assert app.demo.progress()["time"] > 0 and app.demo.progress()["damage"] > 0


def capture_path_end_to_end():
    """A window draws an encoder-made barcode; mss grabs the screen; the decoder returns the exact snapshot."""
    config = OverlayConfig(x=0, y=0, policy="apl", width=1260)     # room for the strip (Xvfb is 1280 wide)
    env = live_env()
    source = ScreenSource(None, config.stale_ms)
    app = OverlayApp(env, PlannerWorker(env, Recommender(env), source, settings_from(config)), config)
    import dearpygui.dearpygui as dpg

    app.build()
    try:
        for seed in range(3):
            full = random_snapshot(np.random.default_rng(seed))
            snapshot = dataclasses.replace(full, cooldowns=full.cooldowns[:4], enemies=full.enemies[:2])
            strip = encode(snapshot, 2 + seed)
            assert strip.shape[1] < 1200, strip.shape
            app.show_barcode(strip)
            reading = None
            for _ in range(8):
                dpg.render_dearpygui_frame()
                reading = source.read()
                if reading.status == OK and reading.snapshot.frame == snapshot.frame:
                    break
            assert reading.status == OK, reading.message
            assert reading.snapshot == decode_frame(encode_frame(snapshot))
            assert source.region is not None and source.region["width"] < 1024  # found once, then a small box
    finally:
        dpg.destroy_context()


class FakeScreen:
    """Images a test hands to ScreenSource in place of mss."""

    def __init__(self):
        self.image = np.zeros((40, 300, 4), np.uint8)

    def show(self, rgb: np.ndarray) -> None:
        canvas = np.zeros((40, max(300, rgb.shape[1] + 20), 4), np.uint8)
        canvas[10:10 + rgb.shape[0], 10:10 + rgb.shape[1], :3] = rgb[:, :, ::-1]
        self.image = canvas

    def __call__(self, region):
        return self.image


def missing_damaged_and_stale_barcodes_show_in_the_ui():
    import dearpygui.dearpygui as dpg

    screen = FakeScreen()
    config = OverlayConfig(x=0, y=0, policy="apl", stale_ms=200)
    env = live_env()
    source = ScreenSource([0, 0, 300, 40], config.stale_ms, grab=screen)
    worker = PlannerWorker(env, Recommender(env), source, settings_from(config))
    app = OverlayApp(env, worker, config)
    app.build()
    try:
        def refresh():
            result = worker.refresh()
            app.update()
            dpg.render_dearpygui_frame()
            return result, dpg.get_value("status")

        result, text = refresh()
        assert result.reading.status == NO_SIGNAL and "NO SIGNAL" in text and result.advice is None

        good = sim.to_snapshot(env, env.init(jax.random.key(0)), frame=7)
        screen.show(encode(good, 2))
        result, text = refresh()
        assert result.reading.status == OK and result.advice is not None and text.startswith("signal ok")
        assert dpg.get_value("best_name") != "no recommendation"

        damaged = encode(good, 2).copy()
        damaged[:, 60:180] = 255 - damaged[:, 60:180]      # 60 cells: beyond what Reed-Solomon corrects
        screen.show(damaged)
        result, text = refresh()
        assert result.reading.status == DAMAGED and text.startswith("DAMAGED")

        screen.show(encode(good, 2))       # the same frame counter again and again: the game stopped
        time.sleep(0.3)
        result, text = refresh()
        assert result.reading.status == STALE and "unchanged" in text

        other = sim.to_snapshot(env, env.init(jax.random.key(0)), frame=8)
        screen.show(encode(other.__class__(**{**other.__dict__, "spec_id": 62}), 2))
        result, text = refresh()
        assert "cannot plan" in text and "spec 62" in text            # a snapshot of another spec
    finally:
        dpg.destroy_context()
