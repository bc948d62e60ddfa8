"""The vocabulary of search: its configuration and what it recommends."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

POLICIES = ("gumbel", "muzero")
QTRANSFORMS = ("default", "by_parent_and_siblings", "by_min_max", "completed_by_mix_value")
PRIORS = ("apl", "uniform")
VALUES = ("network", "rollout", "bootstrap")
DEVICES = ("auto", "cpu", "default")
# Measured on an H200 machine (issue 18): one state's search with the network, 256 simulations,
# 113 ms on the GPU against 26 ms on its host CPU (launch latency of many tiny kernels). Only
# batch 1 was measured there, so "auto" moves only single-state searches to the CPU.
INTERACTIVE_BATCH = 1


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Every search setting; variants are chosen here, not by editing code.

    policy: "gumbel" (mctx.gumbel_muzero_policy) or "muzero" (mctx.muzero_policy, PUCT).
    expected_value: search on the expected-value simulator (crits and procs at their
        expectation): the documented determinization, biased where a proc's timing matters
        (docs/training.md). False: the random simulator, in `worlds` sampled futures.
    worlds: with expected_value False, each state is searched in this many futures, keyed
        from the search's key (never the state's own: in the simulator that is the
        episode's actual future). Every future is one consistent draw of all crits and
        procs (common random numbers: the actions of one future see the same luck), so
        the root values averaged over the futures are unbiased for random procs at the
        root; the choice is the best mean among actions searched in every future.
    prior / value without a network: "apl" puts `apl_prior_logit` on the APL's choice
        ("uniform": all legal actions alike); a leaf's value is `rollout_steps` APL
        decisions, then the rollout's damage rate extrapolated to the end of the fight.
    value with a network: "network" (its value head) or "rollout" (the network's prior
        with the APL rollout value above: exact short-horizon damage differences, which
        a learned value's errors can swamp), or "bootstrap" (the rollout, then the value
        head at the state it reached instead of the steady-rate tail).
    qtransform: "default" is the policy's own (min-max by parent and siblings for
        muzero, completed-by-mix-value for gumbel).
    device: where `Planner` searches. "auto": batches of up to `INTERACTIVE_BATCH` states
        (the overlay, the service's single requests) on the host CPU when the default
        backend is an accelerator, larger ones on the default device; "cpu"; "default".
    """

    policy: str = "gumbel"
    num_simulations: int = 64
    max_depth: int | None = None
    expected_value: bool = True
    worlds: int = 1
    prior: str = "apl"
    apl_prior_logit: float = 2.0
    rollout_steps: int = 8
    value: str = "network"
    qtransform: str = "default"
    dirichlet_fraction: float = 0.0
    dirichlet_alpha: float = 0.3
    temperature: float = 1.0
    max_num_considered_actions: int = 16
    gumbel_scale: float = 0.0
    device: str = "auto"

    def validate(self) -> "SearchConfig":
        from portunus.errors import InputError

        checks = [
            (self.policy in POLICIES, f"policy must be one of {', '.join(POLICIES)}, got '{self.policy}'"),
            (self.qtransform in QTRANSFORMS, f"qtransform must be one of {', '.join(QTRANSFORMS)}"),
            (self.value in VALUES, f"value must be one of {', '.join(VALUES)}, got '{self.value}'"),
            (self.prior in PRIORS, f"prior must be one of {', '.join(PRIORS)}, got '{self.prior}'"),
            (1 <= self.num_simulations <= 100_000, f"num_simulations must be 1..100000, got {self.num_simulations}"),
            (1 <= self.worlds <= 1024, f"worlds must be 1..1024, got {self.worlds}"),
            (self.worlds == 1 or not self.expected_value,
             f"worlds = {self.worlds} needs the random simulator (expected_value false)"),
            (self.max_depth is None or self.max_depth >= 1, "max_depth must be >= 1"),
            (0 <= self.rollout_steps <= 1000, f"rollout_steps must be 0..1000, got {self.rollout_steps}"),
            (0.0 <= self.dirichlet_fraction <= 1.0, "dirichlet_fraction must be 0..1"),
            (self.temperature > 0, "temperature must be > 0"),
            (self.max_num_considered_actions >= 1, "max_num_considered_actions must be >= 1"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got '{self.device}'"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"search config: {message}")
        return self


@dataclasses.dataclass
class Recommendation:
    """Search results for a batch of states (leading axis = state).

    Per state and action: `visit_counts`, `q_values` (mean value of the action's
    subtree, reward scale; NaN where unvisited), `prior` (probabilities) and
    `action_weights` (the policy's improved policy). `best_action` is what search
    chose; `hold_action` the best action that is not a major cooldown (-1 if none is
    legal). `trees` holds each state's tree pruned for display: nested dicts with
    action, name, visits, q, prior, children (best branch first).
    """

    action_names: tuple[str, ...]
    best_action: np.ndarray
    hold_action: np.ndarray
    visit_counts: np.ndarray
    q_values: np.ndarray
    prior: np.ndarray
    action_weights: np.ndarray
    legal: np.ndarray
    trees: list[dict[str, Any]]
    search_seconds: float
    num_simulations: int

    @staticmethod
    def rows(picks: list[tuple["Recommendation", int]]) -> "Recommendation":
        """One recommendation of the given (recommendation, state index) rows, in order (rows
        of searches run in slices, gathered for `merge_belief`)."""
        first = picks[0][0]
        arrays = {name: np.stack([getattr(r, name)[i] for r, i in picks])
                  for name in ("best_action", "hold_action", "visit_counts", "q_values", "prior", "action_weights",
                               "legal")}
        return dataclasses.replace(first, **arrays, trees=[r.trees[i] for r, i in picks],
                                   search_seconds=max(r.search_seconds for r, _ in picks))

    def ranked(self, index: int = 0) -> list[dict[str, Any]]:
        """Legal actions of state `index`, most visited first."""
        order = np.lexsort((-np.nan_to_num(self.q_values[index], nan=-1e9), -self.visit_counts[index]))
        return [{"action": int(a), "name": self.action_names[a], "visits": int(self.visit_counts[index, a]),
                 "q": None if np.isnan(self.q_values[index, a]) else float(self.q_values[index, a]),
                 "prior": float(self.prior[index, a])}
                for a in order if self.legal[index, a]]

    def to_dict(self, index: int = 0) -> dict[str, Any]:
        hold = int(self.hold_action[index])
        return {"best_action": self.action_names[int(self.best_action[index])],
                "hold_action": self.action_names[hold] if hold >= 0 else None,
                "search_seconds": self.search_seconds, "num_simulations": self.num_simulations,
                "actions": self.ranked(index), "tree": self.trees[index]}
