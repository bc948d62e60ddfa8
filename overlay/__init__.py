"""The desktop overlay: screen capture of the addon's barcode (or a simulated demo
fight), a planner thread, and a DearPyGui window that shows what to press.

    app = overlay.build_demo(overlay.OverlayConfig(), sim.patchwerk()); app.run()
"""

from overlay.config import OverlayConfig, load_config, save_window
from overlay.launch import build_demo, build_overlay, live_env
from overlay.recommender import Advice, Recommender
from overlay.sources import DemoSource, Reading, ScreenSource
from overlay.worker import PlannerWorker, Result, Settings

__all__ = ["OverlayConfig", "load_config", "save_window", "build_demo", "build_overlay", "live_env",
           "Advice", "Recommender", "DemoSource", "Reading", "ScreenSource", "PlannerWorker", "Result", "Settings"]
