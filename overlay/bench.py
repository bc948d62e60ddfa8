"""`portunus bench overlay`: one refresh of the real overlay, end to end.

A barcode drawn on screen (inside the overlay's own viewport) is grabbed with mss,
decoded, turned into a simulator state and searched; then the UI updates and
renders. Each refresh shows the next state of a simulated fight, so every grab
decodes a new frame. With `view="retail"` the frames are what retail combat shows (hidden
cooldowns and auras, the player's own cast times), so each refresh also builds the belief the
overlay plans over (docs/protocol.md): the "state" part is its cost.
"""

from __future__ import annotations

import time

import numpy as np


def _summary(values: list[float]) -> dict:
    ms = np.array(values) * 1000
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "max_ms": float(ms.max())}


VIEWS = ("full", "retail")


def bench_overlay(simulations=(64, 256), refreshes: int = 40, warmup: int = 3, mode: str = "mcts",
                  progress=None, view: str = "full") -> dict:
    import dearpygui.dearpygui as dpg

    from overlay.app import OverlayApp, settings_from
    from overlay.config import OverlayConfig
    from overlay.launch import live_env
    from overlay.recommender import Recommender
    from overlay.sources import OK, ScreenSource
    from overlay.worker import PlannerWorker
    from portunus.bench import environment
    import sim
    from portunus.protocol import encode

    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if view == "retail":
        from sim.retail import retail_snapshots

        snapshots = retail_snapshots(warmup + refreshes)
    else:
        snapshots = sim.sample_snapshots(warmup + refreshes)
    strip = max(encode(snapshot, 3).shape[1] for snapshot in snapshots)
    config = OverlayConfig(x=0, y=0, policy=mode, width=max(1260, strip + 40))   # room for the strip in the window
    env = live_env()
    worker = PlannerWorker(env, Recommender(env), ScreenSource(None, config.stale_ms), settings_from(config))
    app = OverlayApp(env, worker, config)
    rows = []
    app.build()
    try:
        for count in simulations:
            worker.settings.simulations = count
            parts = {"grab_decode": [], "state": [], "search": [], "ui": [], "total": []}
            for i, snapshot in enumerate(snapshots):
                app.show_barcode(encode(snapshot, 3))         # the game draws; not timed
                for _ in range(3):                            # a new texture shows on the third frame
                    dpg.render_dearpygui_frame()
                start = time.perf_counter()
                result = worker.refresh()
                searched = time.perf_counter()
                app.update()
                dpg.render_dearpygui_frame()
                done = time.perf_counter()
                if result.reading.status != OK or result.advice is None or result.reading.snapshot != snapshot:
                    raise RuntimeError(f"refresh {i}: {result.reading.status} {result.reading.message} {result.error}")
                if i < warmup:
                    continue
                parts["grab_decode"].append(result.reading.grab_seconds)
                parts["search"].append(result.advice.seconds)
                parts["state"].append(searched - start - result.reading.grab_seconds - result.advice.seconds)
                parts["ui"].append(done - searched)
                parts["total"].append(done - start)
            row = {"simulations": count, "mode": mode, "view": view, "refreshes": refreshes,
                   **{name: _summary(values) for name, values in parts.items()}}
            rows.append(row)
            if progress:
                progress(row)
    finally:
        dpg.destroy_context()
    return {"benchmark": "overlay", "what": "grab (mss) + decode + state (from_snapshot, "
            "or the belief for a retail view) + search + UI update and render per refresh, after warm-up", "environment": environment(), "results": rows}
