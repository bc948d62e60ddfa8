"""The planner thread: newest state in, recommendation out, never blocking the UI."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Optional

from overlay.recommender import Advice, Recommender
from overlay.sources import OK, STALE, Reading


@dataclasses.dataclass
class Settings:
    """What the UI may change while the planner runs (plain attributes: atomic under the GIL)."""

    mode: str = "mcts"
    simulations: int = 64
    depth: int = 2
    refresh_ms: int = 250
    belief_samples: int = 4          # states drawn when the game hides values (1: one guess)
    belief_particles: int = 32       # copies replaying the player's casts fill the hidden values (0: rules)


@dataclasses.dataclass(frozen=True)
class Result:
    reading: Reading
    advice: Optional[Advice]
    error: str = ""
    refresh_seconds: float = 0.0     # grab + decode + state + search
    behind: bool = False             # the refresh took longer than the refresh interval
    finished_at: float = 0.0


class PlannerWorker(threading.Thread):
    def __init__(self, env, recommender: Recommender, source, settings: Settings):
        super().__init__(daemon=True, name="portunus-planner")
        self.env, self.recommender, self.source, self.settings = env, recommender, source, settings
        self.latest: Optional[Result] = None
        self.refreshes = 0
        self._followed = None             # sim.FollowedBelief, made at the first hidden snapshot
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def refresh(self) -> Result:
        """One refresh: read the source, build the state, advise. Also used by the benchmark."""
        import sim
        from sim.belief import has_hidden

        start = time.monotonic()
        reading = self.source.read()
        advice, error = None, ""
        if reading.status in (OK, STALE) and reading.snapshot is not None:
            try:
                s = self.settings
                if hasattr(self.recommender, "advise_snapshot"):          # the planning service
                    advice = self.recommender.advise_snapshot(reading.snapshot, s.depth)
                elif s.belief_samples > 1 and has_hidden(reading.snapshot):
                    states = self._belief(reading.snapshot, s)
                    advice = self.recommender.advise_belief(states, s.mode, s.simulations, s.depth)
                else:
                    state = sim.from_snapshot(self.env, reading.snapshot)
                    advice = self.recommender.advise(state, s.mode, s.simulations, s.depth)
                if hasattr(self.source, "advise"):
                    self.source.advise(reading.snapshot.frame, advice.best)
            except (ValueError, KeyError, ConnectionError) as problem:  # wrong spec, no network, service down
                error = str(problem)
        elapsed = time.monotonic() - start
        result = Result(reading, advice, error, elapsed, elapsed > self.settings.refresh_ms / 1000,
                        time.monotonic())
        self.latest = result
        self.refreshes += 1
        return result

    def _belief(self, snapshot, s: Settings):
        """Samples of what the snapshot hides: copies of the fight that replay the player's casts
        (sim.FollowedBelief, kept across refreshes), or rules drawn afresh when particles are 0."""
        import sim
        from sim.belief import buff_uptime

        prior = buff_uptime(self.env)
        if s.belief_particles < 1:
            return sim.sample_beliefs(self.env, snapshot, s.belief_samples, seed=snapshot.frame, buff_prior=prior)
        if self._followed is None or self._followed.particles != s.belief_particles:
            self._followed = sim.FollowedBelief(self.env, s.belief_particles)
        return self._followed.states(snapshot, s.belief_samples, buff_prior=prior)

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.monotonic()
            self.refresh()
            pause = self.settings.refresh_ms / 1000 - (time.monotonic() - started)
            self._halt.wait(max(pause, 0.0))
