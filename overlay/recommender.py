"""The three policy modes behind one call: snapshot state -> what to press.

(a) "apl": the hand-written priority list; (b) "net": the network's policy head
alone; (c) "mcts": search (with the network's prior and value when one is given,
else the simulator-only evaluator). Each mode gives a best action, a "hold
cooldowns" action (the best that is no major cooldown) and a tree for display.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import numpy as np

from search import Planner, SearchConfig
from sim._xla import jit as sim_jit
from sim.belief import belief_votes
from sim.env import Env
from sim.types import State


@dataclasses.dataclass(frozen=True)
class Advice:
    mode: str
    best: str
    hold: str | None
    tree: dict[str, Any]
    seconds: float
    simulations: int


def _leaf(name: str, visits: int = 0, q=None, prior=None) -> dict[str, Any]:
    return {"name": name, "visits": visits, "q": q, "prior": prior, "children": []}


class Recommender:
    """Compiled policies for one env; `advise(state, mode, simulations, depth)` from any thread."""

    def __init__(self, env: Env, apply_fn: Callable | None = None, params: Any = None,
                 search_settings: dict[str, Any] | None = None):
        from sim.apl import load_apl
        from sim.policies import with_hold

        self.env, self.apply_fn, self.params = env, apply_fn, params
        self.search_settings = search_settings or {}
        self.names = env.spec.action_names
        self.major = env.spec.action_major_cooldown
        # Hold cooldowns under the APL: its choice when the major cooldowns are not ready.
        held = with_hold(env, load_apl(env))
        self._apl, self._apl_batch = sim_jit(held), sim_jit(jax.vmap(held))   # one state; belief samples
        self._planners: dict[int, Planner] = {}
        if apply_fn is not None:
            net = lambda p, s: apply_fn(p, env.observation(s))[0]  # noqa: E731
            self._net, self._net_batch = sim_jit(net), sim_jit(jax.vmap(net, in_axes=(None, 0)))

    @classmethod
    def from_model(cls, env: Env, model) -> "Recommender":
        """With a trained network (train.Model): its prior, and the leaf values it is searched
        with (`Model.search_settings`: its model.json "search", else its training config)."""
        if model is None:
            return cls(env)
        model.check_env(env)
        return cls(env, model.apply, model.params, model.search_settings())

    @property
    def modes(self) -> tuple[str, ...]:
        return ("apl", "net", "mcts") if self.apply_fn is not None else ("apl", "mcts")

    def planner(self, simulations: int) -> Planner:
        if simulations not in self._planners:
            config = SearchConfig(num_simulations=simulations, **self.search_settings)
            self._planners[simulations] = Planner(self.env, config, self.apply_fn, self.params)
        return self._planners[simulations]

    def advise_belief(self, states: State, mode: str, simulations: int = 64, depth: int = 2) -> Advice:
        """Advice for one game state seen partly (`states`: samples of `sim.sample_beliefs`):
        only actions legal in every sample; search merges its searches of each sample
        (`Planner.recommend_belief`), the APL and the network vote by sample."""
        start = time.perf_counter()
        legal = np.asarray(states.legal_action_mask).all(axis=0)
        if mode == "mcts":
            recommendation = self.planner(simulations).recommend_belief(states, tree_depth=depth)
            hold = int(recommendation.hold_action[0])
            advice = Advice("mcts", self.names[int(recommendation.best_action[0])],
                            self.names[hold] if hold >= 0 else None, recommendation.trees[0], 0.0, simulations)
            return dataclasses.replace(advice, seconds=time.perf_counter() - start)
        if mode == "apl":
            picks = np.asarray(self._apl_batch(states))            # [K, 2]: best, hold
            votes = belief_votes(picks[:, 0], states.legal_action_mask)
        elif mode == "net":
            if self.apply_fn is None:
                raise ValueError("policy mode 'net' needs a network (--checkpoint)")
            logits = np.asarray(self._net_batch(self.params, states))
            probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
            votes = (probabilities / probabilities.sum(axis=1, keepdims=True)).mean(axis=0) * legal
        else:
            raise ValueError(f"policy mode must be one of {', '.join(self.modes)}, got '{mode}'")
        order = [int(a) for a in np.argsort(-votes, kind="stable") if legal[a]]
        best = order[0] if order else self.env.wait_action
        hold = next((a for a in order if not self.major[a]), None)
        children = [_leaf(self.names[a], prior=float(votes[a] / max(votes.sum(), 1e-9))) for a in order[:depth + 2]]
        advice = Advice(mode, self.names[best], None if hold is None else self.names[hold],
                        {"name": None, "visits": 0, "q": None, "children": children}, 0.0, 0)
        return dataclasses.replace(advice, seconds=time.perf_counter() - start)

    def advise(self, state: State, mode: str, simulations: int = 64, depth: int = 2) -> Advice:
        start = time.perf_counter()
        if mode == "apl":
            best, hold = (int(a) for a in self._apl(state))
            advice = Advice("apl", self.names[best], self.names[hold] if not self.major[hold] else None,
                            {"name": None, "visits": 0, "q": None, "children": [_leaf(self.names[best])]
                             + ([_leaf(self.names[hold])] if hold != best else [])}, 0.0, 0)
        elif mode == "net":
            if self.apply_fn is None:
                raise ValueError("policy mode 'net' needs a network (--checkpoint)")
            logits = np.asarray(self._net(self.params, state))
            legal = np.asarray(state.legal_action_mask)
            logits = np.where(legal, logits, -np.inf)
            order = [a for a in np.argsort(-logits) if legal[a]]
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            hold = next((a for a in order if not self.major[a]), None)
            children = [_leaf(self.names[a], prior=float(probabilities[a])) for a in order[:depth + 2]]
            advice = Advice("net", self.names[order[0]], None if hold is None else self.names[hold],
                            {"name": None, "visits": 0, "q": None, "children": children}, 0.0, 0)
        elif mode == "mcts":
            batch = jax.tree.map(lambda x: x[None], state)
            recommendation = self.planner(simulations).recommend(batch, tree_depth=depth)
            hold = int(recommendation.hold_action[0])
            advice = Advice("mcts", self.names[int(recommendation.best_action[0])],
                            self.names[hold] if hold >= 0 else None, recommendation.trees[0], 0.0, simulations)
        else:
            raise ValueError(f"policy mode must be one of {', '.join(self.modes)}, got '{mode}'")
        return dataclasses.replace(advice, seconds=time.perf_counter() - start)
