"""Ability icons drawn here (no downloaded or copyrighted art), or the player's own
files named by spell id."""

from __future__ import annotations

import colorsys
import functools
import zlib
from pathlib import Path

import numpy as np

ICON_SIZE = 64


def initials(label: str) -> str:
    words = [w for w in label.replace("_", " ").split() if w.lower() not in ("of", "the")]
    return "".join(w[0].upper() for w in words[:3]) or "?"


@functools.lru_cache(maxsize=256)
def generated_icon(name: str, label: str, size: int = ICON_SIZE) -> np.ndarray:
    """f32 [size, size, 4] RGBA in 0..1: a colored tile (hue from the name) with the initials."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib import patheffects

    hue = (zlib.crc32(name.encode()) % 360) / 360.0
    if name == "wait":
        top, bottom = (0.35, 0.35, 0.38), (0.18, 0.18, 0.2)
    else:
        top = colorsys.hsv_to_rgb(hue, 0.65, 0.9)
        bottom = colorsys.hsv_to_rgb(hue, 0.85, 0.35)
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    tile = (1 - ramp) * np.array(top) + ramp * np.array(bottom)
    tile = np.broadcast_to(tile, (size, size, 3)).copy()
    border = max(2, size // 20)
    tile[:border], tile[-border:], tile[:, :border], tile[:, -border:] = 0.08, 0.08, 0.08, 0.08

    figure = Figure(figsize=(1, 1), dpi=size)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(tile, interpolation="nearest")
    text = initials(label) if name != "wait" else "..."
    axes.text(size / 2 - 0.5, size / 2, text, ha="center", va="center", color="white", weight="bold",
              fontsize=size * (0.42 if len(text) < 3 else 0.32),
              path_effects=[patheffects.withStroke(linewidth=size / 16, foreground="black")])
    axes.set_axis_off()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba(), np.float32)[:size, :size] / 255.0


def user_icon(folder: str | Path, spell_id: int, size: int = ICON_SIZE) -> np.ndarray | None:
    """The player's icon `<folder>/<spell id>.png`, resized (nearest) to `size`, or None."""
    path = Path(folder).expanduser() / f"{spell_id}.png"
    if not spell_id or not path.exists():
        return None
    from matplotlib.image import imread

    image = np.asarray(imread(path), np.float32)
    if image.max() > 1.0:
        image = image / 255.0
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 3:
        image = np.concatenate([image, np.ones(image.shape[:2] + (1,), np.float32)], axis=2)
    rows = (np.arange(size) * image.shape[0] / size).astype(int)
    cols = (np.arange(size) * image.shape[1] / size).astype(int)
    return image[rows][:, cols]


def ability_icons(spec, icons_dir: str | None = None, size: int = ICON_SIZE) -> dict[str, np.ndarray]:
    """An icon per action of the spec (wait included)."""
    icons = {}
    spell_ids = dict(zip(spec.ability_names, spec.ability_spell_ids))
    labels = dict(zip(spec.ability_names, spec.ability_labels))
    for name in spec.action_names:
        ability = name.split("@")[0]  # every target slot of an ability shows the ability's icon
        own = user_icon(icons_dir, spell_ids.get(ability, 0), size) if icons_dir else None
        icons[name] = own if own is not None else generated_icon(ability, labels.get(ability, ability), size)
    return icons
