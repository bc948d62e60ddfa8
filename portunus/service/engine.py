"""The planner a service holds: spec, character, policy and compiled search, loaded once.

Batches are padded to a few fixed sizes so nothing compiles while serving; every
size is compiled by `warm_up` before the service says it is ready.

On CPU a batch is searched as `search_threads` slices at once, one per thread: a
batch of 64 states keeps one core busy for ~115 ms on the 2-core test machine;
two slices of 32 on two threads took ~70 ms (the event loop has nothing to do
while its clients wait for that batch). Each slice is padded to a compiled size
of its own (the batch sizes divided by the thread count).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from search.evaluator import masked_logits

POLICIES = ("apl", "net", "mcts")
MAX_TREE_DEPTH = 6


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    policy: str = "mcts"
    simulations: int = 64
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    profile_text: str | None = None      # SimC profile text; None = the shipped character
    spec: str = "retribution_paladin"
    checkpoint: str | None = None        # trained model; None = the shipped one if present, "none" = no network
    search_threads: int = 0              # 0 = auto: up to 4 on a CPU backend (not above its cores), else 1

    def threads(self) -> int:
        if self.search_threads:
            return self.search_threads
        return min(os.cpu_count() or 1, 4) if jax.default_backend() == "cpu" else 1

    def validate(self) -> "EngineConfig":
        if self.policy not in POLICIES:
            raise ValueError(f"policy: must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if not 1 <= self.simulations <= 4096:
            raise ValueError(f"simulations: must be 1..4096, got {self.simulations}")
        if not self.batch_sizes or any(not 1 <= b <= 1024 for b in self.batch_sizes):
            raise ValueError(f"batch_sizes: each must be 1..1024, got {self.batch_sizes}")
        if not 0 <= self.search_threads <= 64:
            raise ValueError(f"search_threads: must be 0 (auto) .. 64, got {self.search_threads}")
        return self


class PlanningEngine:
    def __init__(self, config: EngineConfig = EngineConfig()):
        import sim
        from portunus.profile import load_profile, parse_profile
        from search import Planner, SearchConfig
        from sim.apl import load_apl
        from sim.policies import with_hold

        self.config = config.validate()
        self.batch_sizes = tuple(sorted(set(config.batch_sizes)))
        self.threads = config.threads() if config.policy == "mcts" else 1
        self.slice_sizes = tuple(sorted({math.ceil(size / self.threads) for size in self.batch_sizes}))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="search-slice")
        profile = parse_profile(config.profile_text, "profile") if config.profile_text else load_profile()
        from train.model import resolve_model

        self.model = resolve_model(config.checkpoint)
        self.env = sim.live_env(config.spec, profile, slots=self.model.slots if self.model else 8)
        self.profile_name = profile.name
        env = self.env
        if self.model is not None:
            self.model.check_env(env)
        if config.policy == "net" and self.model is None:
            raise ValueError("policy: 'net' needs a trained model (--checkpoint)")
        if config.policy == "mcts":
            search_config = (self.model.search_config(config.simulations) if self.model
                             else SearchConfig(num_simulations=config.simulations))
            self.planner = Planner(env, search_config, self.model.apply if self.model else None,
                                   self.model.params if self.model else None)
        elif config.policy == "net":
            model = self.model
            self._net = sim.jit(jax.vmap(with_hold(env, lambda state: jnp.argmax(masked_logits(
                model.apply(model.params, env.observation(state))[0], state.legal_action_mask)))))
        else:
            self._apl = sim.jit(jax.vmap(with_hold(env, load_apl(env))))

    @property
    def max_batch(self) -> int:
        return self.batch_sizes[-1]

    def state(self, snapshot):
        """One snapshot as State arrays (numpy); raises portunus InputError naming the field."""
        from sim.snapshot import snapshot_fields

        return snapshot_fields(self.env, snapshot)

    def warm_up(self) -> float:
        import sim

        start = time.perf_counter()
        state = self.state(sim.to_snapshot(self.env, self.env.init(jax.random.key(0))))
        for size in self.batch_sizes:
            self.plan([state] * size, depth=1)
        return time.perf_counter() - start

    def plan(self, states: list, depth: int, seed: int = 0) -> list[dict[str, Any]]:
        """Recommendations for `states` (from `state`, at most max_batch), padded to the next batch size
        (for search: to slices of a compiled slice size, searched on `threads` threads at once)."""
        from sim.snapshot import from_snapshots

        names = self.env.spec.action_names
        if self.config.policy == "mcts":
            size = next(b for b in self.slice_sizes if b >= math.ceil(len(states) / self.threads))
            slices = [list(states[at:at + size]) for at in range(0, len(states), size)]

            def search(part: list) -> list[dict[str, Any]]:
                batch = from_snapshots(self.env, _padded(part, size))
                recommendation = self.planner.recommend(batch, jax.random.key(seed), tree_depth=depth)
                return [recommendation.to_dict(i) for i in range(len(part))]

            results = [result for part in self._pool.map(search, slices) for result in part]
            size *= len(slices)
        else:
            size = next(b for b in self.batch_sizes if b >= len(states))
            batch = from_snapshots(self.env, _padded(states, size))
            start = time.perf_counter()
            best, hold = (np.asarray(a) for a in (self._net if self.config.policy == "net" else self._apl)(batch))
            seconds = time.perf_counter() - start
            major = self.env.spec.action_major_cooldown
            results = []
            for i in range(len(states)):
                held = None if major[hold[i]] else names[hold[i]]
                results.append({"best_action": names[best[i]], "hold_action": held, "search_seconds": seconds,
                                "num_simulations": 0, "actions": [],
                                "tree": {"action": None, "name": None, "visits": 0, "children": []}})
        for result in results:
            result["batch_size"] = size
        return results


def _padded(states: list, size: int) -> list:
    """`states` repeated at the first one up to a compiled batch size (the extra results are dropped)."""
    return list(states) + [states[0]] * (size - len(states))
