"""mctx search over the true simulator: the embedding is the sim `State`.

`Planner(env, config)` compiles one batched search; `planner.recommend(states)`
runs it and returns a `Recommendation`. The transition in the tree is
`env.step` itself (on the expected-value simulator unless configured
otherwise); leaves are valued by a network when one is given, else by APL
rollouts (search/evaluator.py).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import mctx
import numpy as np

from search.backward import batched_backward_in_mctx
from search.evaluator import apl_prior, bootstrapped_value, network_evaluator, rollout_value, uniform_prior
from search.tree_export import export_tree
from search.types import INTERACTIVE_BATCH, Recommendation, SearchConfig
from sim._xla import jit
from sim.apl import load_apl
from sim.env import Env
from sim.rollout import step_batch
from sim.types import State

QTRANSFORMS = {
    "by_parent_and_siblings": mctx.qtransform_by_parent_and_siblings,
    "by_min_max": functools.partial(mctx.qtransform_by_min_max, min_value=-1.0, max_value=1.0),
    "completed_by_mix_value": mctx.qtransform_completed_by_mix_value,
}


def make_evaluator(env: Env, config: SearchConfig, apply_fn: Callable | None = None, apl=None):
    """(params, states) -> (prior logits [N, A+1], values [N]) for a batch of states."""
    if apply_fn is not None and config.value == "network":
        return network_evaluator(env, apply_fn)
    apl = apl if apl is not None else load_apl(env)
    if apply_fn is not None and config.value == "bootstrap":  # rollouts, then the value head
        network = network_evaluator(env, apply_fn)
        bootstrapped = bootstrapped_value(env, apl, config.rollout_steps, network)
        return lambda params, states: (network(params, states)[0], bootstrapped(params, states))
    value = rollout_value(env, apl, config.rollout_steps)
    if apply_fn is not None:  # the network's prior, valued by rollouts
        network = network_evaluator(env, apply_fn)
        return lambda params, states: (network(params, states)[0], value(states))
    prior = jax.vmap(apl_prior(env, apl, config.apl_prior_logit) if config.prior == "apl" else uniform_prior(env))
    return lambda params, states: (prior(states), value(states))


def make_search(env: Env, config: SearchConfig, apply_fn: Callable | None = None, apl=None):
    """A jittable `search(params, key, states) -> mctx.PolicyOutput` over a batch of states."""
    config.validate()
    model = dataclasses.replace(env, expected_value=True) if config.expected_value else env
    evaluate = make_evaluator(model, config, apply_fn, apl)

    def recurrent_fn(params, key, action, states: State):
        # Batch-last inside search, as its rollouts (search/evaluator.py): measured faster there.
        next_states = step_batch(model, states, action, last_axis=True)
        logits, value = evaluate(params, next_states)
        output = mctx.RecurrentFnOutput(
            reward=next_states.reward,
            discount=jnp.where(next_states.terminated, 0.0, 1.0),
            prior_logits=logits,
            value=value,
        )
        return output, next_states

    def tree_search(params, key, states: State) -> mctx.PolicyOutput:
        logits, value = evaluate(params, states)
        root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=states)
        invalid = ~states.legal_action_mask
        common = dict(params=params, rng_key=key, root=root, recurrent_fn=recurrent_fn,
                      num_simulations=config.num_simulations, invalid_actions=invalid,
                      max_depth=config.max_depth)
        if config.qtransform != "default":
            common["qtransform"] = QTRANSFORMS[config.qtransform]
        with batched_backward_in_mctx():
            if config.policy == "muzero":
                return mctx.muzero_policy(**common, dirichlet_fraction=config.dirichlet_fraction,
                                          dirichlet_alpha=config.dirichlet_alpha, temperature=config.temperature)
            return mctx.gumbel_muzero_policy(**common, max_num_considered_actions=config.max_num_considered_actions,
                                             gumbel_scale=config.gumbel_scale)

    def search(params, key, states: State) -> mctx.PolicyOutput:
        if config.expected_value:
            return tree_search(params, key, states)
        # Sampled futures: `worlds` copies of every state (state-major), each with its own key.
        count, worlds = states.time.shape[0], config.worlds
        future_key, key = jax.random.split(key)
        futures = jax.tree.map(lambda leaf: jnp.repeat(leaf, worlds, axis=0), states)
        futures = futures.replace(key=jax.random.split(future_key, count * worlds))
        output = tree_search(params, key, futures)
        stats = root_statistics(output.search_tree, worlds)
        weights = output.action_weights.reshape(count, worlds, -1).mean(axis=1)
        return output.replace(action=stats.best, action_weights=weights)

    return search


@chex.dataclass(frozen=True)
class RootStatistics:
    """What search found at the root of each state, merged over its sampled futures
    (`SearchConfig.worlds`): visits summed, q (reward scale) the mean over the futures
    that searched the action (NaN where none did), `best` the best mean q among actions
    searched in every future (the most visited, if no action was)."""

    visits: jax.Array
    q: jax.Array
    prior_logits: jax.Array
    best: jax.Array


def root_statistics(tree: mctx.Tree, worlds: int = 1) -> RootStatistics:
    """Per state [N, A] from a tree over N x `worlds` states (state-major); numpy or jax."""
    xp = jnp if isinstance(tree.children_visits, jax.Array) else np
    root = mctx.Tree.ROOT_INDEX

    def per_state(values):
        return values[:, root].reshape(-1, worlds, values.shape[-1])

    visits = per_state(tree.children_visits)
    q = per_state(tree.children_rewards + tree.children_discounts * tree.children_values)
    searched = visits > 0
    count = searched.sum(axis=1)
    mean_q = xp.where(searched, q, 0.0).sum(axis=1) / xp.maximum(count, 1)
    everywhere = searched.all(axis=1)
    total = visits.sum(axis=1)
    best = xp.where(everywhere.any(axis=1), xp.where(everywhere, mean_q, -xp.inf).argmax(axis=1),
                    total.argmax(axis=1))
    # Divided before summed: illegal actions' logits sit near the float's lowest value, and
    # their plain sum over worlds overflows to -inf.
    prior_logits = (per_state(tree.children_prior_logits) / worlds).sum(axis=1)
    return RootStatistics(visits=total, q=xp.where(count > 0, mean_q, xp.nan), prior_logits=prior_logits, best=best)


class Planner:
    """One env, one config, one compiled search; recommend() for any batch of states."""

    def __init__(self, env: Env, config: SearchConfig = SearchConfig(), apply_fn: Callable | None = None,
                 params: Any = None, apl=None):
        self.env, self.config, self.params = env, config.validate(), params
        self.search = jit(make_search(env, config, apply_fn, apl))
        self.major = env.spec.action_major_cooldown
        self._params_on: dict = {}

    def device_for(self, batch: int, backend: str | None = None) -> jax.Device | None:
        """The device a search of `batch` states runs on (None: where its inputs are, the
        default device). See `SearchConfig.device`."""
        backend = backend or jax.default_backend()
        if self.config.device == "cpu" or (self.config.device == "auto" and backend != "cpu"
                                           and batch <= INTERACTIVE_BATCH):
            return None if backend == "cpu" else jax.devices("cpu")[0]
        return None

    def run(self, states: State, key: jax.Array) -> mctx.PolicyOutput:
        device = self.device_for(int(states.time.shape[0]))
        if device is None:
            return self.search(self.params, key, states)
        if self._params_on.get(device) is None:
            self._params_on[device] = jax.device_put(self.params, device)
        states, key = jax.device_put((states, key), device)
        return self.search(self._params_on[device], key, states)

    def recommend_belief(self, states: State, key: jax.Array | None = None, tree_depth: int = 2) -> Recommendation:
        """Search every sampled state of one belief (`sim.sample_beliefs`) and merge what was
        found into one recommendation (`merge_belief`)."""
        return merge_belief(self.recommend(states, key, tree_depth), np.asarray(self.major))

    def recommend(self, states: State, key: jax.Array | None = None, tree_depth: int = 2) -> Recommendation:
        """Search a batch of states (leading axis) and summarize what it found."""
        key = jax.random.key(0) if key is None else key
        start = time.perf_counter()
        output = jax.block_until_ready(self.run(states, key))
        seconds = time.perf_counter() - start
        tree = jax.tree.map(np.asarray, output.search_tree.replace(embeddings=None))
        worlds = 1 if self.config.expected_value else self.config.worlds
        root = root_statistics(tree, worlds)
        visits, q = root.visits, root.q
        logits = root.prior_logits
        prior = np.exp(logits - logits.max(axis=1, keepdims=True))
        prior /= prior.sum(axis=1, keepdims=True)
        legal = np.asarray(states.legal_action_mask)
        # Gumbel's choice is deterministic (sequential halving); muzero's is sampled from the
        # visit counts, so the recommendation takes the most visited action instead (over
        # sampled futures: the best mean, as search chose).
        best = np.asarray(output.action) if self.config.policy == "gumbel" or worlds > 1 else visits.argmax(axis=1)
        # Hold cooldowns: the most visited (then best q) legal action that is no major cooldown;
        # over sampled futures the best mean q, as the choice itself.
        rank = np.nan_to_num(q, nan=-1e3) + (0.0 if worlds > 1 else visits * 1e6)
        score = np.where(legal & ~self.major[None, :], rank, -np.inf)
        hold = np.where(np.isfinite(score.max(axis=1)), score.argmax(axis=1), -1)
        names = self.env.spec.action_names
        return Recommendation(
            action_names=names, best_action=best, hold_action=hold, visit_counts=visits, q_values=q,
            prior=prior, action_weights=np.asarray(output.action_weights), legal=legal,
            trees=[export_tree(tree, index * worlds, names, tree_depth) for index in range(best.shape[0])],
            search_seconds=seconds, num_simulations=self.config.num_simulations)


def merge_belief(recommendation: Recommendation, major: np.ndarray) -> Recommendation:
    """One recommendation from a search of each sampled state of a belief (`sim.sample_beliefs`):
    visits summed, values and prior averaged over the samples; the best action is the one
    most samples' searches chose, among those legal in every sample (the game allows what
    every consistent state allows), ties to the most visited. Votes, not summed visits:
    Gumbel's sequential halving spends visits on the actions it is about to drop, so the
    visits summed over four samples that all chose Hammer of Light could favour Final
    Verdict (seen on Patchwerk). The held alternative (no major cooldown, `major` [A]) is
    the most visited such action. The tree shown is the first sample's."""
    r = recommendation
    legal = r.legal.all(axis=0, keepdims=True)
    visits = np.where(legal, r.visit_counts.sum(axis=0, keepdims=True), 0)
    seen = (~np.isnan(r.q_values)).sum(axis=0, keepdims=True)
    q = np.where(seen > 0, np.nansum(r.q_values, axis=0, keepdims=True) / np.maximum(seen, 1), np.nan)
    prior = r.prior.mean(axis=0, keepdims=True)
    chosen = np.asarray(r.best_action)
    votes = np.bincount(chosen[chosen >= 0], minlength=legal.shape[1])[None, :]
    score = np.where(legal, visits * 1e6 + np.nan_to_num(q, nan=-1e3), -np.inf)
    best = np.where(legal, votes * 1e12 + score, -np.inf).argmax(axis=1)
    held = np.where(~np.asarray(major)[None, :], score, -np.inf)
    hold = np.where(np.isfinite(held.max(axis=1)), held.argmax(axis=1), -1)
    return dataclasses.replace(
        r, best_action=best, hold_action=hold, visit_counts=visits, q_values=q, prior=prior,
        action_weights=r.action_weights.mean(axis=0, keepdims=True), legal=legal, trees=r.trees[:1])


def state_from_sim(env: Env, at_time: float, key: jax.Array, policy=None) -> State:
    """Play a fight with the default APL (or `policy`) until `at_time` seconds; return that state."""
    policy = policy if policy is not None else load_apl(env)

    def body(state, _):
        keep = state.terminated | (state.time >= at_time)
        after = env.step(state, policy(state))
        return jax.tree.map(lambda old, new: jnp.where(keep, old, new), state, after), None

    steps = int(at_time / 0.5) + 8
    state, _ = jit(lambda s: jax.lax.scan(body, s, None, length=steps))(env.init(key))
    return state
