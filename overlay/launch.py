"""Assemble the overlay: env + recommender + source + planner thread + window."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from overlay.app import OverlayApp, settings_from
from overlay.config import OverlayConfig
from overlay.recommender import Recommender
from overlay.sources import DemoSource, ScreenSource
from overlay.worker import PlannerWorker


def live_env(profile=None, targets: int = 8):
    """The env the overlay plans in: the player's character against up to `targets`
    enemies whose health comes from the snapshot (a by-health fight, not a timed one)."""
    import sim

    return sim.make(profile=profile, fight=sim.aoe(targets=targets), expected_value=True)


def build_overlay(config: OverlayConfig, config_path: Optional[Path] = None, profile=None,
                  grab=None) -> OverlayApp:
    env = live_env(profile)
    source = ScreenSource(config.capture, config.stale_ms, grab=grab)
    worker = PlannerWorker(env, Recommender(env), source, settings_from(config))
    return OverlayApp(env, worker, config, config_path)


def build_demo(config: OverlayConfig, fight, profile=None, seed: int = 0, speed: float = 1.0,
               config_path: Optional[Path] = None) -> OverlayApp:
    import sim

    env = sim.make(profile=profile, fight=fight, expected_value=True)
    demo = DemoSource(env, seed=seed, speed=speed)
    worker = PlannerWorker(env, Recommender(env), demo, settings_from(config))
    return OverlayApp(env, worker, config, config_path, demo=demo, title="Portunus demo")
