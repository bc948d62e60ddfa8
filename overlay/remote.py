"""The planning service in place of in-process search: `portunus overlay --planner URL`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

from overlay.recommender import Advice
from portunus.protocol import GameSnapshot, snapshot_to_json


class PlannerUnreachable(ConnectionError):
    """No answer from the service in time; the overlay shows it and keeps trying."""


class RemoteRecommender:
    modes = ("service",)

    def __init__(self, url: str, timeout: float = 1.0, session: str | None = None):
        # One session per overlay: the service follows this player's fight across refreshes.
        self.url, self.timeout = url.rstrip("/"), timeout
        self.session = session or f"overlay-{uuid.uuid4().hex[:16]}"

    def advise_snapshot(self, snapshot: GameSnapshot, depth: int = 2) -> Advice:
        body = json.dumps({"snapshot": snapshot_to_json(snapshot), "tree_depth": depth,
                           "session": self.session}).encode()
        request = urllib.request.Request(f"{self.url}/v1/recommend", data=body,
                                         headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:      # the service refused this snapshot: say why
            try:
                message = json.loads(error.read()).get("error", str(error))
            except ValueError:
                message = str(error)
            raise ValueError(f"planner refused the state: {message}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PlannerUnreachable(f"planner unreachable at {self.url}: {reason}") from None
        result = answer["recommendations"][0]
        return Advice(mode=f"{answer['policy']} (service)", best=result["best_action"], hold=result["hold_action"],
                      tree=result["tree"], seconds=time.perf_counter() - start,
                      simulations=answer["simulations"])
