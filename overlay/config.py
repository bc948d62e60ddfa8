"""The overlay's settings: a TOML file a player edits by hand and the overlay
updates (window position and size) without losing the player's comments."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Optional

import tomlkit

from portunus.errors import InputError, closest, line_of
from portunus.inputs import read_text

POLICY_MODES = ("apl", "net", "mcts")
DEFAULT_PATH = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "portunus" / "overlay.toml"


@dataclasses.dataclass
class OverlayConfig:
    """Defaults are what a new player gets; every key can be set in the file."""

    x: int = 60
    y: int = 60
    width: int = 620
    height: int = 380
    refresh_ms: int = 250          # how often the planner recommends
    fps: int = 30                  # UI frame cap: software GL would otherwise starve the search
    policy: str = "mcts"           # apl | net | mcts
    simulations: int = 64
    tree_depth: int = 2            # 1..6
    belief_samples: int = 4        # states drawn when the game hides values (secret cooldowns, auras); 1: one guess
    belief_particles: int = 32     # copies of the fight that replay your casts to fill what is hidden; 0: rules only
    capture: Optional[list[int]] = None  # [left, top, width, height]; unset: scan the screen once
    stale_ms: int = 1000           # a frame counter unchanged this long means the game stopped drawing
    icons_dir: Optional[str] = None  # the player's own icons, named <spell id>.png
    keybinds: dict[str, str] = dataclasses.field(default_factory=dict)  # ability name -> key label
    always_on_top: bool = True


_RANGES = {"width": (200, 4000), "height": (150, 4000), "refresh_ms": (20, 10_000), "fps": (1, 240),
           "simulations": (1, 4096), "tree_depth": (1, 6), "belief_samples": (1, 64),
           "belief_particles": (0, 256), "stale_ms": (100, 60_000),
           "x": (-10_000, 10_000), "y": (-10_000, 10_000)}


def _check(data: dict[str, Any], text: str, path: str) -> OverlayConfig:
    fields = {f.name: f for f in dataclasses.fields(OverlayConfig)}
    values = {}
    for key, value in data.items():
        where = (path, line_of(text, key))
        if key not in fields:
            raise InputError(f"unknown key '{key}'{closest(key, list(fields))}", *where)
        default = getattr(OverlayConfig(), key)
        if key in _RANGES:
            low, high = _RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InputError(f"{key} must be a whole number from {low} to {high}, got {value!r}", *where)
        elif key == "policy" and value not in POLICY_MODES:
            raise InputError(f"policy must be one of {', '.join(POLICY_MODES)}, got {value!r}", *where)
        elif key == "capture":
            if (not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, int) for v in value)
                    or value[2] < 8 or value[3] < 1):
                raise InputError("capture must be [left, top, width, height] in pixels (width >= 8)", *where)
        elif key == "keybinds":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise InputError("keybinds must be a table of ability = \"key\"", *where)
        elif key in ("icons_dir",) and not isinstance(value, str):
            raise InputError(f"{key} must be a folder path (text)", *where)
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise InputError(f"{key} must be true or false, got {value!r}", *where)
        values[key] = value.unwrap() if hasattr(value, "unwrap") else value
    return OverlayConfig(**values)


def load_config(path: Path | str | None = None) -> OverlayConfig:
    """The config at `path` (default ~/.config/portunus/overlay.toml); defaults when the file is absent."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.exists():
        return OverlayConfig()
    text = read_text(path, "overlay config")
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        raise InputError(f"not valid TOML: {error}", str(path), getattr(error, "line", None)) from None
    return _check(document.unwrap(), text, str(path))


def save_window(path: Path | str | None, config: OverlayConfig) -> None:
    """Write the window's position and size back, keeping every other key and comment.
    Atomic (a temporary file renamed over the old one), so a crash never loses the file."""
    path = Path(path) if path is not None else DEFAULT_PATH
    document = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    for key in ("x", "y", "width", "height"):
        document[key] = getattr(config, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(tomlkit.dumps(document))
    os.replace(temporary, path)
