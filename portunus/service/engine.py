"""The planner a service holds: spec, character, policy and compiled search, loaded once.

Batches are padded to a few fixed sizes so nothing compiles while serving; every
size is compiled by `warm_up` before the service says it is ready.

On CPU a batch is searched as `search_threads` slices at once, one per thread: a
batch of 64 states keeps one core busy for ~115 ms on the 2-core test machine;
two slices of 32 on two threads took ~70 ms (the event loop has nothing to do
while its clients wait for that batch). Each slice is padded to a compiled size
of its own (the batch sizes divided by the thread count).

A snapshot that hides values (retail combat: secret cooldowns and auras, `sim.belief`)
is planned as `belief_samples` states consistent with it, searched with the rest of the
batch and merged into one answer (`search.planner.merge_belief`; the APL and the network
vote by sample), as the overlay does on its own.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
import os
import threading
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
    spec: str | None = None              # None: the profile's own (retail or MoP Classic Retribution)
    checkpoint: str | None = None        # trained model; None = the shipped one if present, "none" = no network
    search_threads: int = 0              # 0 = auto: up to 4 on a CPU backend (not above its cores), else 1
    belief_samples: int = 4              # states drawn for a snapshot that hides values; 1: one guess
    belief_particles: int = 32           # copies of the fight kept per client session; 0: rules only
    max_sessions: int = 256              # sessions kept (least recently used dropped first)
    rollout_steps: int | None = None     # APL decisions per search leaf; None: the model's own (8 without one)

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
        if not 1 <= self.belief_samples <= 64:
            raise ValueError(f"belief_samples: must be 1..64, got {self.belief_samples}")
        if not 0 <= self.belief_particles <= 256:
            raise ValueError(f"belief_particles: must be 0..256, got {self.belief_particles}")
        if not 1 <= self.max_sessions <= 100_000:
            raise ValueError(f"max_sessions: must be 1..100000, got {self.max_sessions}")
        if self.rollout_steps is not None and not 0 <= self.rollout_steps <= 64:
            raise ValueError(f"rollout_steps: must be 0..64, got {self.rollout_steps}")
        return self


@dataclasses.dataclass(frozen=True)
class Belief:
    """A snapshot that hides values, as sampled State arrays (`sim.belief.sample_belief_fields`)."""

    samples: tuple[dict, ...]


class PlanningEngine:
    def __init__(self, config: EngineConfig = EngineConfig()):
        import sim
        from portunus.profile import load_profile, parse_profile
        from search import Planner, SearchConfig
        from sim.apl import load_apl
        from sim.policies import with_hold

        self.config = config.validate()
        self._sessions: collections.OrderedDict = collections.OrderedDict()
        self._sessions_lock = threading.Lock()
        self._copies_env = None
        self.batch_sizes = tuple(sorted(set(config.batch_sizes)))
        self.threads = config.threads() if config.policy == "mcts" else 1
        self.slice_sizes = tuple(sorted({math.ceil(size / self.threads) for size in self.batch_sizes}))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="search-slice")
        profile = parse_profile(config.profile_text, "profile") if config.profile_text else load_profile()
        from train.model import leaf_settings, resolve_model

        self.model = resolve_model(config.checkpoint)
        self.env = sim.live_env(config.spec, profile, slots=self.model.slots if self.model else 8)
        self.profile_name = profile.name
        env = self.env
        if self.model is not None:
            self.model.check_env(env)
        if config.policy == "net" and self.model is None:
            raise ValueError("policy: 'net' needs a trained model (--checkpoint)")
        self.rollout_steps: int | None = None   # APL decisions per search leaf (None: no rollouts)
        if config.policy == "mcts":
            search_config = SearchConfig(num_simulations=config.simulations,
                                         **leaf_settings(self.model, config.rollout_steps)).validate()
            if self.model is None or search_config.value == "rollout":
                self.rollout_steps = search_config.rollout_steps
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

    def state(self, snapshot, session: str | None = None):
        """One snapshot as State arrays (numpy), or a `Belief` when it hides values; raises
        portunus InputError naming the field. With a `session` (one client's successive
        snapshots) the hidden values come from copies of that client's fight that replay its
        casts (`sim.FollowedBelief`, kept per session), else from rules drawn afresh."""
        from sim.belief import buff_uptime, has_hidden, sample_belief_fields
        from sim.snapshot import snapshot_fields

        samples = self.config.belief_samples
        if self.follows(snapshot, session):
            followed, lock = self._followed(session)
            with lock:                            # one session's snapshots are followed one at a time
                return Belief(tuple(followed.fields(snapshot, samples, buff_prior=buff_uptime(self.env))))
        if samples > 1 and has_hidden(snapshot):
            return Belief(tuple(sample_belief_fields(self.env, snapshot, samples, seed=snapshot.frame,
                                                     buff_prior=buff_uptime(self.env))))
        return snapshot_fields(self.env, snapshot)

    def _followed(self, session: str):
        """The session's followed belief and its lock (made on first use; the least recently used one is
        dropped beyond `max_sessions`). All share one compiled copies env."""
        from sim.particles import FollowedBelief, copies_env_for

        with self._sessions_lock:
            followed = self._sessions.pop(session, None)
            if followed is None:
                if self._copies_env is None:
                    self._copies_env = copies_env_for(self.env)
                followed = (FollowedBelief(self.env, self.config.belief_particles, copies_env=self._copies_env),
                            threading.Lock())
            self._sessions[session] = followed
            while len(self._sessions) > self.config.max_sessions:
                self._sessions.popitem(last=False)
            return followed

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def warm_up(self) -> float:
        import sim
        from sim.belief import buff_uptime

        start = time.perf_counter()
        if self.config.belief_samples > 1:
            buff_uptime(self.env)                 # the hidden-buff prior, played once per env
        state = self.state(sim.to_snapshot(self.env, self.env.init(jax.random.key(0))))
        if (self.config.belief_particles > 0 and self.config.belief_samples > 1
                and self.env.spec.settings.get("game", "retail") == "retail"):   # only retail hides values
            self._warm_sessions()
        for size in self.batch_sizes:
            self.plan([state] * size, depth=1)
        return time.perf_counter() - start

    def _warm_sessions(self) -> None:
        """Compile the sessions' copies (their step and legality) before serving: a throwaway
        session follows the first retail-combat snapshots of a fight."""
        from sim.apl import load_apl
        from sim.belief import has_hidden
        from sim.retail import retail_snapshot

        env = self.env
        apl, step = jax.jit(load_apl(env, warn=None)), jax.jit(env.step)
        state = env.init(jax.random.key(0))
        for frame in range(3):
            snapshot = retail_snapshot(env, state, frame)
            if has_hidden(snapshot):
                self.state(snapshot, session="\0warm-up")
            state = step(state, apl(state))
        with self._sessions_lock:
            self._sessions.pop("\0warm-up", None)

    def follows(self, snapshot, session: str | None) -> bool:
        """Would `state` follow this snapshot in a session (tens of ms: run it off the event loop)?"""
        from sim.belief import has_hidden

        return (session is not None and self.config.belief_particles > 0 and self.config.belief_samples > 1
                and has_hidden(snapshot))

    def plan(self, states: list, depth: int, seed: int = 0) -> list[dict[str, Any]]:
        """Recommendations for `states` (from `state`), in order. Beliefs are expanded into
        their samples; the samples are planned in chunks of at most max_batch states, each
        padded to the next batch size (for search: to slices of a compiled slice size, searched
        on `threads` threads at once), and merged back into one answer per belief."""
        flat, groups = [], []
        for entry in states:
            samples = entry.samples if isinstance(entry, Belief) else (entry,)
            groups.append(range(len(flat), len(flat) + len(samples)))
            flat.extend(samples)
        rows, size = [], 0
        for at in range(0, len(flat), self.max_batch):
            chunk_rows, chunk_size = self._plan_chunk(flat[at:at + self.max_batch], depth, seed)
            rows += chunk_rows
            size = max(size, chunk_size)
        results = [self._answer([rows[i] for i in group]) for group in groups]
        for result in results:
            result["batch_size"] = size
        return results

    def _plan_chunk(self, states: list, depth: int, seed: int) -> tuple[list, int]:
        """(rows, padded size): a row per state, (Recommendation, index) for search, else
        (best, hold, legal mask, seconds)."""
        from sim.snapshot import from_snapshots

        if self.config.policy == "mcts":
            size = next(b for b in self.slice_sizes if b >= math.ceil(len(states) / self.threads))
            slices = [list(states[at:at + size]) for at in range(0, len(states), size)]

            def search(part: list):
                batch = from_snapshots(self.env, _padded(part, size))
                return self.planner.recommend(batch, jax.random.key(seed), tree_depth=depth)

            found = list(self._pool.map(search, slices))
            return [(r, i) for r, part in zip(found, slices) for i in range(len(part))], size * len(slices)
        size = next(b for b in self.batch_sizes if b >= len(states))
        batch = from_snapshots(self.env, _padded(states, size))
        start = time.perf_counter()
        best, hold = (np.asarray(a) for a in (self._net if self.config.policy == "net" else self._apl)(batch))
        seconds = time.perf_counter() - start
        legal = np.asarray(batch.legal_action_mask)
        return [(best[i], hold[i], legal[i], seconds) for i in range(len(states))], size

    def _answer(self, rows: list) -> dict[str, Any]:
        """One state's answer from its rows (several: a belief's samples, merged)."""
        from search.planner import merge_belief
        from search.types import Recommendation

        if self.config.policy == "mcts":
            if len(rows) == 1:
                recommendation, index = rows[0]
                answer = recommendation.to_dict(index)
            else:
                answer = merge_belief(Recommendation.rows(rows), np.asarray(self.planner.major)).to_dict(0)
        else:
            from sim.belief import belief_votes

            names, major = self.env.spec.action_names, self.env.spec.action_major_cooldown

            def vote(column: int) -> int:
                # The action most samples chose among those every sample allows; the first
                # sample's own choice when they share none.
                votes = belief_votes([row[column] for row in rows], [row[2] for row in rows])
                return int(votes.argmax()) if votes.any() else int(rows[0][column])

            best, hold = vote(0), vote(1)
            answer = {"best_action": names[best], "hold_action": None if major[hold] else names[hold],
                      "search_seconds": rows[0][3], "num_simulations": 0, "actions": [],
                      "tree": {"action": None, "name": None, "visits": 0, "children": []}}
        answer["belief_samples"] = len(rows)
        return answer


def _padded(states: list, size: int) -> list:
    """`states` repeated at the first one up to a compiled batch size (the extra results are dropped)."""
    return list(states) + [states[0]] * (size - len(states))
