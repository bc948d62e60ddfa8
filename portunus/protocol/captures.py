"""What real screen captures do to the strip, as functions of (rng, image): the
robustness tests and `scripts/barcode_captures.py` decode through these (Pillow
and SciPy do the resampling, blur and JPEG; both come with matplotlib and JAX).

Each transform draws its own strength from the ranges players meet (issue 17,
`shared/reference/wow-12-addon-api.md` "Screen capture in the wild"): in-game gamma
0.8-1.25, brightness and contrast +-10 %, warm or cool colour filters (night light,
colour-temperature settings), smooth display or capture scaling by 0.8-2.0 (bilinear
or bicubic), a sub-pixel offset, a blur of sigma 0.5, and JPEG at quality >= 90
without chroma subsampling. Images are u8 [H, W, 3] RGB; every transform returns one.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np

from portunus.protocol.snapshot import (AuraState, CooldownState, EnemyState, GameSnapshot, KeystoneState,
                                        ResourceState)

Transform = Callable[[np.random.Generator, np.ndarray], np.ndarray]


def _u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def gamma(rng: np.random.Generator, image: np.ndarray, low: float = 0.8, high: float = 1.25) -> np.ndarray:
    """The game's gamma slider: every channel through level -> 255 (level / 255) ^ (1 / g)."""
    g = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return _u8(255.0 * (image / 255.0) ** (1.0 / g))


def brightness_contrast(rng: np.random.Generator, image: np.ndarray, amount: float = 0.10) -> np.ndarray:
    """Contrast scaled about mid-grey by 1 +- amount, then brightness shifted by +- amount of full scale."""
    contrast, brightness = 1.0 + rng.uniform(-amount, amount), rng.uniform(-amount, amount) * 255.0
    return _u8((image - 127.5) * contrast + 127.5 + brightness)


def colour_filter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A warm (night light) or cool colour-temperature filter: per-channel gains, the strongest
    channel kept, the opposite one down to 0.7, and a slight mix between channels."""
    warm = rng.random() < 0.5
    far, middle = rng.uniform(0.7, 0.95), rng.uniform(0.85, 1.0)
    gains = np.array([1.0, middle, far]) if warm else np.array([far, middle, 1.0])
    mix = rng.uniform(0.0, 0.04)
    matrix = np.diag(gains) * (1 - 2 * mix) + mix * gains[:, None]
    return _u8(image.astype(np.float64) @ matrix.T)


def _pil_resize(image: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    from PIL import Image

    resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}[method]
    return np.asarray(Image.fromarray(image).resize(size, resample))


def smooth_scale(rng: np.random.Generator, image: np.ndarray, low: float = 0.8, high: float = 2.0,
                 method: str | None = None) -> np.ndarray:
    """Display scaling or a capture tool's resize: one factor for both axes, bilinear or bicubic
    (Pillow's, which filters over the source pixels when it shrinks)."""
    factor = rng.uniform(low, high)
    method = method or ("bilinear" if rng.random() < 0.5 else "bicubic")
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return _pil_resize(image, size, method)


def subpixel_offset(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """The strip drawn off the pixel grid by a fraction of a pixel in x and y, then sampled
    bilinearly (a window moved by a non-integer amount, a UI scale that does not snap)."""
    dx, dy = rng.uniform(0.05, 0.95, 2)
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    moved = ((1 - dy) * ((1 - dx) * padded[1:, 1:] + dx * padded[1:, :-1])
             + dy * ((1 - dx) * padded[:-1, 1:] + dx * padded[:-1, :-1]))
    return _u8(moved[:image.shape[0], :image.shape[1]])


def blur(rng: np.random.Generator, image: np.ndarray, sigma: float = 0.5) -> np.ndarray:
    """A Gaussian blur of `sigma` pixels (GPU sharpening's opposite, a soft scaler, a video encoder)."""
    from scipy.ndimage import gaussian_filter

    return _u8(gaussian_filter(image.astype(np.float64), sigma=(sigma, sigma, 0), mode="nearest"))


def jpeg(rng: np.random.Generator, image: np.ndarray, low: int = 90, high: int = 100) -> np.ndarray:
    """A JPEG round trip at quality `low`..`high`, 4:4:4 (no chroma subsampling)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(rng.integers(low, high + 1)), subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def combined(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Several at once, in the order a real capture applies them: the game's colour settings,
    a colour filter, the display's scaling, then the capture's compression."""
    image = gamma(rng, image)
    image = brightness_contrast(rng, image)
    image = colour_filter(rng, image)
    image = smooth_scale(rng, image, 1.0, 1.5) if rng.random() < 0.5 else subpixel_offset(rng, image)
    return jpeg(rng, image, 92, 100)


TRANSFORMS: dict[str, Transform] = {
    "gamma": gamma,
    "brightness_contrast": brightness_contrast,
    "colour_filter": colour_filter,
    "bilinear_scale": lambda rng, image: smooth_scale(rng, image, method="bilinear"),
    "bicubic_scale": lambda rng, image: smooth_scale(rng, image, method="bicubic"),
    "subpixel_offset": subpixel_offset,
    "blur": blur,
    "jpeg": jpeg,
    "combined": combined,
}


def place(rng: np.random.Generator, strip: np.ndarray, margin: int = 12) -> np.ndarray:
    """The strip on a game-like background: a flat colour or noise, at a random whole-pixel offset."""
    height, width = strip.shape[:2]
    top, left = int(rng.integers(0, margin)), int(rng.integers(0, margin))
    shape = (height + top + int(rng.integers(1, margin)), width + left + int(rng.integers(1, margin)), 3)
    if rng.random() < 0.5:
        canvas = np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), shape).copy()
    else:
        canvas = rng.integers(0, 256, shape).astype(np.uint8)
    canvas[top:top + height, left:left + width] = strip
    return canvas


def retail_snapshot(rng: np.random.Generator, abilities: int = 10, buffs: int = 4, debuffs: int = 3,
                    enemies: int = 8) -> GameSnapshot:
    """A random snapshot the size of the Retribution addon's in an 8-enemy pull (a 332-byte
    version 2 frame), values on the wire's grid, a quarter of them unknown."""

    def value(high: int, scale: int = 1):
        if rng.random() < 0.25:
            return None
        raw = int(rng.integers(0, high + 1))
        return raw / scale if scale != 1 else raw

    def flag():
        return None if rng.random() < 0.25 else bool(rng.random() < 0.5)

    def aura():
        return AuraState(value(65534, 100), value(254))

    return GameSnapshot(
        spec_id=70, frame=int(rng.integers(0, 65536)), game_time=value(2**32 - 2, 1000),
        combat_time=value(2**32 - 2, 1000), in_combat=flag(), gcd_remaining=value(150, 100),
        cast_spell_id=value(2**32 - 2), cast_remaining=value(300, 100), assisted_spell_id=value(400000),
        resources=(ResourceState(value(5), 5),),
        cooldowns=tuple(CooldownState(value(6000, 100), value(2), value(2), flag(), flag(), flag(), flag(), flag(),
                                      value(65534, 100), value(12000, 100)) for _ in range(abilities)),
        buffs=tuple(aura() for _ in range(buffs)),
        enemies=tuple(EnemyState(value(2**32 - 2), value(2**32 - 2), value(10000, 100), flag(),
                                 tuple(aura() for _ in range(debuffs))) for _ in range(enemies)),
        keystone=KeystoneState(value(65534), value(40), value(10000, 100), value(2**32 - 2, 1000),
                               value(2**32 - 2, 1000)))
