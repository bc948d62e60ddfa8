"""Evaluation: the APL, the network alone and network + MCTS on the same seeds.

Every policy plays the same episodes (same start keys) of each fight to the
end on the stochastic simulator. Fixed-time fights report DPS; fights that end
when enemies die report clear time (and DPS). Intervals are 95 % normal
intervals of the mean over episodes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import sim
from search.evaluator import masked_logits
from search.planner import make_search
from sim._xla import jit
from sim.apl import load_apl
from sim.env import Env
from sim.rollout import step_batch
from sim.types import OBJECTIVE_CLEAR_TIME, State
from train.envs import parse_fight
from train.model import Model

DEFAULT_FIGHTS = ("patchwerk", "aoe", "route:sample_keystone")


def interval(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, np.float64)
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()), "low": float(values.mean() - half), "high": float(values.mean() + half),
            "n": int(len(values))}


def policy_step(env: Env, policy: str, model: Model | None, simulations: int) -> Callable:
    """(key, states) -> actions for a batch."""
    if policy == "apl":
        apl = load_apl(env)
        return lambda key, states: jax.vmap(apl)(states)
    if policy == "net":
        def net(key, states: State):
            logits, _ = model.apply(model.params, jax.vmap(env.observation)(states))
            return jnp.argmax(masked_logits(logits, states.legal_action_mask), axis=-1)
        return net
    search = make_search(env, model.search_config(simulations), model.apply)
    return lambda key, states: search(model.params, key, states).action


def play(env: Env, choose: Callable, episodes: int, seed: int, chunk: int = 64,
         on_chunk: Callable[[int, int], None] | None = None) -> State:
    """Every episode to its end; the same seeds give the same starts for every policy."""
    states = jax.vmap(env.init)(jax.random.split(jax.random.key(seed), episodes))

    @jit
    def advance(states: State, key):
        def body(states, step_key):
            return step_batch(env, states, choose(step_key, states)), None

        states, _ = jax.lax.scan(body, states, jax.random.split(key, chunk))
        return states

    limit = int(float(env.fight.time_limit) / 0.1) + chunk
    for index in range(0, limit, chunk):
        states = advance(states, jax.random.fold_in(jax.random.key(seed + 1), index))
        finished = int(jnp.sum(states.terminated))
        if on_chunk is not None:
            on_chunk(finished, episodes)
        if finished == episodes:
            break
    return states


@dataclasses.dataclass
class FightResult:
    fight: str
    objective: str                  # "dps" or "clear_time"
    results: dict[str, dict]        # policy label -> {"dps": interval, "clear_time": interval?}


def evaluate(models: dict[str, Model], fights=DEFAULT_FIGHTS, episodes: int = 32, simulations: int = 64,
             seed: int = 0, profile=None, spec: str = "retribution_paladin",
             on_progress: Callable[[str], None] | None = None,
             on_result: Callable[[FightResult], None] | None = None) -> list[FightResult]:
    """APL once per fight, then `net` and `net+mcts` for each model (label -> Model)."""
    slots = {model.slots for model in models.values()}
    if len(slots) > 1:
        raise ValueError("models to compare must share their enemy slots")
    slots = slots.pop() if slots else 8
    outcomes = []
    for name in fights:
        env = sim.make(spec, profile, parse_fight(name, slots))
        for model in models.values():
            model.check_env(env)
        clear = int(env.fight.objective) == OBJECTIVE_CLEAR_TIME
        policies = [("apl", "apl", None)] + [(f"{label} {kind}", kind, model) for label, model in models.items()
                                            for kind in ("net", "net+mcts")]
        results = {}
        for label, kind, model in policies:
            if on_progress is not None:
                on_progress(f"{name}: {label}")
            final = play(env, policy_step(env, kind, model, simulations), episodes, seed)
            time = np.asarray(final.time)
            entry = {"dps": interval(np.asarray(final.damage_done) / np.maximum(time, 1e-3))}
            if clear:
                entry["clear_time"] = interval(time)
                entry["timed_out"] = int(np.sum(~np.asarray(final.terminated) | (time >= env.fight.time_limit - 1e-3)))
            results[label] = entry
        outcomes.append(FightResult(name, "clear_time" if clear else "dps", results))
        if on_result is not None:
            on_result(outcomes[-1])
    return outcomes


def to_json(outcomes: list[FightResult], settings: dict) -> dict:
    return {"settings": settings, "fights": [dataclasses.asdict(outcome) for outcome in outcomes]}


def separated(better: dict, worse: dict, lower_is_better: bool) -> bool:
    """Non-overlapping 95 % intervals in the better direction."""
    return better["high"] < worse["low"] if lower_is_better else better["low"] > worse["high"]
