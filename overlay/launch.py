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
    """The env the overlay plans in (sim.live_env)."""
    import sim

    return sim.live_env(profile=profile, slots=targets)


def build_overlay(config: OverlayConfig, config_path: Optional[Path] = None, profile=None,
                  grab=None, planner_url: Optional[str] = None, planner_timeout: float = 1.0,
                  model=None) -> OverlayApp:
    env = live_env(profile)
    source = ScreenSource(config.capture, config.stale_ms, grab=grab)
    if planner_url:
        from overlay.remote import RemoteRecommender

        recommender = RemoteRecommender(planner_url, planner_timeout)
    else:
        recommender = Recommender.from_model(env, model)
    worker = PlannerWorker(env, recommender, source, settings_from(config))
    return OverlayApp(env, worker, config, config_path)


def build_demo(config: OverlayConfig, fight, profile=None, seed: int = 0, speed: float = 1.0,
               config_path: Optional[Path] = None, model=None) -> OverlayApp:
    import sim

    if model is not None:  # the network reads a fixed number of enemy slots
        fight = fight.with_slots(model.slots)
    env = sim.make(profile=profile, fight=fight, expected_value=True)
    demo = DemoSource(env, seed=seed, speed=speed)
    worker = PlannerWorker(env, Recommender.from_model(env, model), demo, settings_from(config))
    return OverlayApp(env, worker, config, config_path, demo=demo, title="Portunus demo")
