"""The DearPyGui window: recommendation, hold-cooldowns alternative, the search tree
sideways, latency and signal state, live policy controls, and the demo's clicks.

The UI thread only draws what the planner thread last published (`worker.latest`),
at a capped frame rate so software GL does not starve the search of CPU.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import dearpygui.dearpygui as dpg
import numpy as np

from overlay.config import OverlayConfig, save_window
from overlay.icons import ICON_SIZE, ability_icons, generated_icon
from overlay.sources import DAMAGED, NO_SIGNAL, OK, STALE
from overlay.tree_layout import layout
from overlay.worker import PlannerWorker, Settings

SIMULATION_CHOICES = ("16", "32", "64", "128", "256", "512", "1024")
STATUS_COLORS = {OK: (120, 220, 120), STALE: (240, 180, 60), DAMAGED: (240, 120, 60), NO_SIGNAL: (240, 80, 80)}
TREE_SIZE = (400, 210)
NODE_ICON = 26


class OverlayApp:
    def __init__(self, env, worker: PlannerWorker, config: OverlayConfig, config_path: Optional[Path] = None,
                 demo=None, title: str = "Portunus"):
        self.env, self.worker, self.config, self.config_path, self.demo = env, worker, config, config_path, demo
        self.title = title
        self.frames = 0
        self._shown_result = None
        self._drag_allowed = False
        self._barcode_shape = None
        self._closing = False

    # ------------------------------------------------------------------ building
    def _textures(self) -> None:
        icons = ability_icons(self.env.spec, self.config.icons_dir)
        icons["?"] = generated_icon("?", "?")
        with dpg.texture_registry():
            for name, icon in icons.items():
                dpg.add_static_texture(ICON_SIZE, ICON_SIZE, np.ascontiguousarray(icon).ravel().tolist(),
                                       tag=f"icon:{name}")

    def build(self) -> None:
        c = self.config
        dpg.create_context()
        self._textures()
        modes = list(self.worker.recommender.modes)
        if self.worker.settings.mode not in modes:
            self.worker.settings.mode = modes[-1]
        with dpg.window(tag="main", no_title_bar=True, no_move=True, no_resize=True, no_scrollbar=True):
            with dpg.group(horizontal=True):
                dpg.add_text(f"{self.title} - {self.env.spec.name}", tag="grip", color=(150, 170, 200))
                dpg.add_text("(drag this line to move)", color=(90, 100, 120))
            with dpg.group(horizontal=True):
                with dpg.group():
                    dpg.add_image("icon:?", width=96, height=96, tag="best_icon")
                    dpg.add_text("compiling the planner...", tag="best_name", wrap=150)
                    dpg.add_text("", tag="best_key", color=(200, 200, 120))
                    dpg.add_spacer(height=6)
                    dpg.add_text("hold cooldowns:", color=(160, 160, 160))
                    with dpg.group(horizontal=True):
                        dpg.add_image("icon:?", width=40, height=40, tag="hold_icon")
                        dpg.add_text("-", tag="hold_name", wrap=100)
                dpg.add_drawlist(*TREE_SIZE, tag="tree")
            dpg.add_text("", tag="status")
            dpg.add_text("", tag="timing", color=(170, 170, 190))
            with dpg.group(horizontal=True):
                dpg.add_radio_button(modes, default_value=self.worker.settings.mode, horizontal=True, tag="mode",
                                     callback=lambda _, value: setattr(self.worker.settings, "mode", value))
                dpg.add_combo(SIMULATION_CHOICES, default_value=str(self.worker.settings.simulations), width=70,
                              tag="simulations", label="sims",
                              callback=lambda _, v: setattr(self.worker.settings, "simulations", int(v)))
                dpg.add_slider_int(default_value=self.worker.settings.depth, min_value=1, max_value=6, width=80,
                                   tag="depth", label="depth",
                                   callback=lambda _, v: setattr(self.worker.settings, "depth", int(v)))
            if self.demo is not None:
                dpg.add_text("", tag="demo_progress", color=(200, 200, 255))
                with dpg.group(horizontal=True):
                    dpg.add_text("play instead:", color=(160, 160, 160))
                    # One button per ability (a targeted one on the first enemy), not per target slot.
                    spec = self.env.spec
                    for name in (spec.action_names[a] for a in spec.ability_first_action):
                        dpg.add_image_button(f"icon:{name}", width=24, height=24, tag=f"choose:{name}",
                                             callback=lambda _, __, user: self.demo.choose(user), user_data=name)
        with dpg.handler_registry():
            dpg.add_mouse_click_handler(button=dpg.mvMouseButton_Left, callback=self._on_click)
            dpg.add_mouse_drag_handler(button=dpg.mvMouseButton_Left, callback=self._on_drag)
        dpg.create_viewport(title=self.title, width=c.width, height=c.height, x_pos=c.x, y_pos=c.y,
                            decorated=False, always_on_top=c.always_on_top, vsync=False)
        dpg.setup_dearpygui()
        dpg.show_viewport()
        dpg.set_primary_window("main", True)

    # ------------------------------------------------------------------ moving the window
    def _on_click(self, *_):
        self._drag_allowed = dpg.get_mouse_pos(local=False)[1] < 24

    def _on_drag(self, _, data):
        if self._drag_allowed:
            x, y = dpg.get_viewport_pos()
            dpg.set_viewport_pos([x + data[1], y + data[2]])

    # ------------------------------------------------------------------ updating
    def _draw_tree(self, tree: dict, depth: int) -> None:
        dpg.delete_item("tree", children_only=True)
        width, height = TREE_SIZE
        nodes = layout(tree, depth, width - 60, height)
        leaves = max(1, sum(1 for n in nodes if not any(m.parent == nodes.index(n) for m in nodes)))
        icon = max(10.0, min(NODE_ICON, 0.8 * height / leaves))
        half = icon / 2
        top_visits = max([n.visits for n in nodes if n.parent is not None] + [1])
        for node in nodes:
            if node.parent is None:
                continue
            parent = nodes[node.parent]
            weight = node.visits / top_visits if top_visits > 1 else 0.5
            color = (230, 190, 70, 255) if node.on_best_path else (120, 140, 170, 200)
            start = parent.x + (half + 62 if parent.parent is not None else 4)
            dpg.draw_line((start, parent.y), (node.x - half, node.y), color=color, thickness=1 + 5 * weight,
                          parent="tree")
        for node in nodes:
            if node.parent is None:
                dpg.draw_circle((node.x, node.y), 5, fill=(200, 200, 220), color=(200, 200, 220), parent="tree")
                continue
            dpg.draw_image(f"icon:{node.name}", (node.x - half, node.y - half), (node.x + half, node.y + half),
                           parent="tree")
            label = f"{node.visits}" if node.visits else ""
            if node.q is not None:
                label += f"  q{node.q:+.2f}"
            dpg.draw_text((node.x + half + 3, node.y - 6), label, size=12, color=(220, 220, 220), parent="tree")

    def update(self) -> None:
        result = self.worker.latest
        if self.demo is not None:
            p = self.demo.progress()
            route = f" - pull {p['pull']}/{p['pulls']}" if p["pulls"] > 1 else ""
            dpg.set_value("demo_progress", f"demo: {p['time']:.1f} s, damage {p['damage']:,.0f} "
                          f"({p['dps']:,.0f} DPS){route}{' - fight over' if p['done'] else ''}")
        if result is None or result is self._shown_result:
            return
        self._shown_result = result
        reading, advice = result.reading, result.advice
        status = reading.status if not result.error else DAMAGED
        text = {OK: "signal ok", STALE: f"STALE: {reading.message}", DAMAGED: f"DAMAGED frame: {reading.message}",
                NO_SIGNAL: "NO SIGNAL: no barcode on screen (is the addon shown? /portunus show)"}[reading.status]
        if result.error:
            text = f"cannot plan: {result.error}"
        if result.behind:
            text += f" - search is falling behind ({result.refresh_seconds * 1000:.0f} ms > "
            text += f"{self.worker.settings.refresh_ms} ms refresh)"
        dpg.set_value("status", text)
        dpg.configure_item("status", color=STATUS_COLORS[status])
        if advice is None:
            dpg.configure_item("best_icon", texture_tag="icon:?")
            dpg.configure_item("hold_icon", texture_tag="icon:?")
            dpg.set_value("best_name", "no recommendation")
            dpg.set_value("hold_name", "-")
            dpg.delete_item("tree", children_only=True)
        else:
            labels = dict(zip(self.env.spec.action_names, self.env.spec.action_labels))
            dpg.configure_item("best_icon", texture_tag=f"icon:{advice.best}")
            dpg.set_value("best_name", labels[advice.best])
            key = self.config.keybinds.get(advice.best, "")
            dpg.set_value("best_key", f"key: {key}" if key else "")
            dpg.configure_item("hold_icon", texture_tag=f"icon:{advice.hold or '?'}")
            dpg.set_value("hold_name", labels.get(advice.hold, "none"))
            # The recommended branch on top (Gumbel's choice need not be the most visited).
            children = sorted(advice.tree["children"], key=lambda child: child["name"] != advice.best)
            self._draw_tree({**advice.tree, "children": children}, self.worker.settings.depth)
        age = reading.frame_age
        sims = f"{advice.simulations} sims, " if advice is not None and advice.simulations else ""
        search_ms = f"search {advice.seconds * 1000:.0f} ms, " if advice is not None else ""
        dpg.set_value("timing", f"{self.worker.settings.mode}: {sims}{search_ms}refresh "
                      f"{result.refresh_seconds * 1000:.0f} ms, frame age {age:.1f} s, "
                      f"{self.worker.refreshes} refreshes")

    def show_barcode(self, image: np.ndarray) -> None:
        """Draw a barcode (u8 [h, w, 3]) in a corner window, as the game would show one: the
        benchmark and the capture test grab it from the screen like the real thing."""
        height, width = image.shape[:2]
        rgba = np.concatenate([image.astype(np.float32) / 255.0, np.ones((height, width, 1), np.float32)], axis=2)
        data = rgba.ravel()
        if not dpg.does_item_exist("barcode_texture") or self._barcode_shape != (height, width):
            if dpg.does_item_exist("barcode_window"):
                dpg.delete_item("barcode_window")
                dpg.delete_item("barcode_texture")
            with dpg.texture_registry():
                dpg.add_dynamic_texture(width, height, data, tag="barcode_texture")
            with dpg.window(tag="barcode_window", no_title_bar=True, no_move=True, no_resize=True,
                            no_background=True, pos=(10, self.config.height - height - 30)):
                dpg.add_image("barcode_texture", width=width, height=height)
            self._barcode_shape = (height, width)
        else:
            dpg.set_value("barcode_texture", data)

    # ------------------------------------------------------------------ running
    def close(self) -> None:
        """Leave the render loop after this frame (from a callback or an on_frame hook)."""
        self._closing = True

    def run(self, max_seconds: Optional[float] = None, on_frame: Optional[Callable[["OverlayApp"], None]] = None,
            start_worker: bool = True) -> None:
        self.build()
        if start_worker:
            self.worker.start()
        started = time.monotonic()
        frame_time = 1.0 / self.config.fps
        try:
            while dpg.is_dearpygui_running() and not self._closing:
                tick = time.monotonic()
                self.update()
                dpg.render_dearpygui_frame()
                self.frames += 1
                if on_frame is not None:
                    on_frame(self)
                if max_seconds is not None and tick - started > max_seconds:
                    break
                time.sleep(max(0.0, frame_time - (time.monotonic() - tick)))
        finally:
            self.worker.stop()
            self._save_geometry()
            dpg.destroy_context()
            if self.worker.is_alive():
                self.worker.join()   # a compile in flight finishes; JAX must not die mid-call

    def _save_geometry(self) -> None:
        if self.config_path is None:
            return
        x, y = dpg.get_viewport_pos()
        self.config.x, self.config.y = int(x), int(y)
        self.config.width = max(200, dpg.get_viewport_client_width())
        self.config.height = max(150, dpg.get_viewport_client_height())
        save_window(self.config_path, self.config)


def settings_from(config: OverlayConfig) -> Settings:
    return Settings(mode=config.policy, simulations=config.simulations, depth=config.tree_depth,
                    belief_samples=config.belief_samples, belief_particles=config.belief_particles,
                    refresh_ms=config.refresh_ms)
