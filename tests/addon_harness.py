"""Runs the real addon (addon/Portunus, in .toc order) in lupa's Lua 5.1 against
tests/lua/wow_mock.lua, and renders what it drew into a screenshot-like image."""

from __future__ import annotations

from pathlib import Path

import lupa.lua51 as lua51
import numpy as np

from portunus.addon_tables import ADDON_DIR

MOCK = Path(__file__).parent / "lua" / "wow_mock.lua"
SECRET = "__SECRET__"


def toc_files(addon_dir: Path = ADDON_DIR) -> list[Path]:
    lines = (addon_dir / "Portunus.toc").read_text().splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [addon_dir / name.replace("\\", "/") for name in names]


class Addon:
    def __init__(self, retail: bool = True, saved_settings: dict | None = None, can_access: bool = True,
                 project: int | None = None):
        """`can_access=False`: a 12.0 client with `issecretvalue` but without `canaccessvalue`;
        `project`: the client's WOW_PROJECT_ID (1 retail, 19 Mists Classic; None: unset)."""
        self.lua = lua51.LuaRuntime(unpack_returned_tuples=True)
        self.lua.execute(MOCK.read_text())
        self.g = self.lua.globals()
        self.g.MOCK.retail = retail
        self.g.MOCK.noCanAccess = not can_access
        self.g.mock_install_apis()
        if project is not None:
            self.g.WOW_PROJECT_ID = project
        if saved_settings is not None:
            self.g.PortunusDB = self.to_lua(saved_settings)
        self.ns = self.lua.table()
        run = self.lua.eval("function(src, name, ns) local chunk = assert(loadstring(src, '@' .. name)); "
                            "chunk('Portunus', ns) end")
        for path in toc_files():
            run(path.read_text(), path.name, self.ns)

    def to_lua(self, value):
        return self.g.mock_secrets(self.lua.table_from(value, recursive=True)
                                   if isinstance(value, (dict, list)) else value)

    def set_game(self, game: dict) -> None:
        for key, value in game.items():
            self.g.MOCK[key] = self.to_lua(value)

    def fire(self, event: str, *args) -> None:
        self.g.mock_fire(event, *args)

    def tick(self, elapsed: float = 0.2) -> None:
        self.g.mock_tick(elapsed)

    def command(self, text: str) -> str:
        before = len(self.g.MOCK.printed)
        self.g.SlashCmdList.PORTUNUS(text)
        printed = self.g.MOCK.printed
        return "\n".join(printed[i] for i in range(before + 1, len(printed) + 1))

    def pixels_per_unit(self) -> float:
        """Physical pixels per layout unit of the barcode frame."""
        frame = self.g.PortunusBarcode
        return frame.GetEffectiveScale(frame) * self.g.MOCK.physicalHeight / 768

    def render(self, margin: int = 3) -> np.ndarray:
        """The screen region the barcode occupies, drawn from the textures' colors and
        positions as the client would, in physical pixels (checks they are whole pixels)."""
        frame = self.g.PortunusBarcode
        scale = self.pixels_per_unit()
        point = frame.points[1]
        assert point[1] == "TOPLEFT" and point[3] == "TOPLEFT"
        fx, fy = point[4] * scale, -point[5] * scale
        rects = []
        for i in range(1, len(frame.textures) + 1):
            texture = frame.textures[i]
            if not texture.shown:
                continue
            _, _, _, tx, ty = (texture.points[1][k] for k in range(1, 6))
            x, y = fx + tx * scale, fy - ty * scale
            w, h = texture.width * scale, texture.height * scale
            for value in (x, y, w, h):
                assert abs(value - round(value)) < 1e-6, f"cell not on whole pixels: {value}"
            color = [round(texture.color[k] * 255) for k in (1, 2, 3)]
            rects.append((round(x), round(y), round(w), round(h), color))
        width = max(x + w for x, _, w, _, _ in rects) + margin
        height = max(y + h for _, y, _, h, _ in rects) + margin
        image = np.full((height, width, 3), 30, np.uint8)
        for x, y, w, h, color in rects:
            image[y:y + h, x:x + w] = color
        return image
