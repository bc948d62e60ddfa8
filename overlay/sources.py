"""Where the overlay's game state comes from: the screen (the addon's barcode,
grabbed with mss), or a simulated fight played in real time for the demo."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable, Optional

import jax
import numpy as np

from portunus.protocol import DecodeError, GameSnapshot, decode, encode, locate

NO_SIGNAL, DAMAGED, STALE, OK = "no signal", "damaged", "stale", "ok"
REGION_MARGIN = 6


@dataclasses.dataclass(frozen=True)
class Reading:
    status: str                              # OK, STALE, DAMAGED or NO_SIGNAL
    snapshot: Optional[GameSnapshot]         # the last good snapshot (also when stale)
    captured_at: float                       # time.monotonic() of the grab
    frame_age: float                         # seconds since the frame counter last changed
    message: str = ""
    grab_seconds: float = 0.0                # grab + decode


class ScreenSource:
    """The addon's barcode from the screen. Without a region it scans every monitor once,
    then grabs only the strip's box (plus a margin) until the strip is lost."""

    def __init__(self, region: Optional[list[int]] = None, stale_ms: int = 1000,
                 grab: Optional[Callable[[Optional[dict]], np.ndarray]] = None):
        self.fixed = region is not None
        self.region = dict(zip(("left", "top", "width", "height"), region)) if region else None
        self.stale = stale_ms / 1000
        self._grab = grab or self._mss_grab
        self._local = threading.local()     # mss handles belong to the thread that made them
        self._last_frame, self._changed_at, self._last = None, time.monotonic(), None

    def _mss_grab(self, region: Optional[dict]) -> np.ndarray:
        import mss

        if not hasattr(self._local, "mss"):
            self._local.mss = mss.MSS()
        shot = self._local.mss.grab(region or self._local.mss.monitors[0])
        self._local.origin = (shot.left, shot.top)
        return np.asarray(shot)                   # BGRA

    def read(self) -> Reading:
        start = time.monotonic()
        image = self._grab(self.region)
        try:
            snapshot, (top, left, bottom, right) = locate(image, "BGRA")
        except DecodeError as error:
            status = NO_SIGNAL if "no Portunus strip" in str(error) else DAMAGED
            if status == NO_SIGNAL and not self.fixed:
                self.region = None                    # scan the whole screen again next time
            now = time.monotonic()
            return Reading(status, self._last, now, now - self._changed_at, str(error), now - start)
        if not self.fixed and self.region is None:
            origin_left, origin_top = getattr(self._local, "origin", (0, 0))
            self.region = {"left": origin_left + max(left - REGION_MARGIN, 0),
                           "top": origin_top + max(top - REGION_MARGIN, 0),
                           "width": right - left + 2 * REGION_MARGIN, "height": bottom - top + 2 * REGION_MARGIN}
        now = time.monotonic()
        if snapshot.frame != self._last_frame:
            self._last_frame, self._changed_at = snapshot.frame, now
        self._last = snapshot
        age = now - self._changed_at
        return Reading(STALE if age > self.stale else OK, snapshot, now, age,
                       "" if age <= self.stale else f"frame {snapshot.frame} unchanged for {age:.1f} s",
                       now - start)


class DemoSource:
    """A simulated fight in real time, sent through the whole path but the game: each
    decision's state becomes a snapshot, a barcode image, and is decoded again. The
    fight moves on with the planner's recommendation, or the action the player clicked."""

    def __init__(self, env, seed: int = 0, speed: float = 1.0, cell_size: int = 3):
        import sim

        self.env, self.speed, self.cell_size = env, speed, cell_size
        self.state = env.init(jax.random.key(seed))
        self._step = sim.jit(env.step)
        self._to_snapshot = lambda state, frame: sim.to_snapshot(env, state, frame)
        self._lock = threading.Lock()
        self._frame = 0
        self._frame_step: dict[int, int] = {}
        self._advice: dict[int, str] = {}          # decision (step count) -> recommended action name
        self.choice: Optional[str] = None          # the player's click, used once
        self._clock_start: Optional[float] = None
        self._waited = 0.0
        self.last_image: Optional[np.ndarray] = None

    # --- called by the planner thread -------------------------------------------------
    def read(self) -> Reading:
        start = time.monotonic()
        with self._lock:
            self._advance(start)
            step = int(self.state.step_count)
            self._frame = (self._frame + 1) % 65536
            self._frame_step[self._frame] = step
            snapshot = self._to_snapshot(self.state, self._frame)
        image = encode(snapshot, self.cell_size)
        self.last_image = image
        try:
            decoded = decode(image)
        except DecodeError as error:      # would be a bug: the demo draws perfect strips
            return Reading(DAMAGED, None, time.monotonic(), 0.0, str(error), time.monotonic() - start)
        now = time.monotonic()
        return Reading(OK, decoded, now, 0.0, "", now - start)

    def advise(self, frame: int, action: str) -> None:
        """The planner's recommendation for the state drawn in `frame`."""
        with self._lock:
            step = self._frame_step.pop(frame, None)
            if step is not None:
                self._advice[step] = action
                if self._clock_start is None:
                    self._clock_start = time.monotonic()

    # --- called by the UI -------------------------------------------------------------
    def choose(self, action: str) -> None:
        with self._lock:
            self.choice = action

    def progress(self) -> dict:
        with self._lock:
            s = self.state
            time_now = float(s.time)
            result = {"time": time_now, "damage": float(s.damage_done),
                      "dps": float(s.damage_done) / max(time_now, 1e-6), "done": bool(s.terminated),
                      "pull": int(s.pull_index) + 1, "pulls": self.env.fight.num_pulls}
        return result

    # --- the clock ----------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        """Play every decision whose time has come. The fight's clock starts with the planner's
        first answer and stops while the planner owes one, so compiling never costs the fight."""
        if self._clock_start is None:
            return
        sim_now = (now - self._clock_start - self._waited) * self.speed
        names = self.env.spec.action_names
        while not bool(self.state.terminated) and float(self.state.time) <= sim_now:
            step = int(self.state.step_count)
            action = self.choice or self._advice.get(step)
            if action is None:
                self._waited += (sim_now - float(self.state.time)) / self.speed
                return
            self.choice = None
            self._advice = {k: v for k, v in self._advice.items() if k > step}
            self.state = self._step(self.state, names.index(action))
