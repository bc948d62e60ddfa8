"""Paired evaluation: every policy against the spec's default APL on the same episodes.

A fight varies by a few percent between random draws while one policy beats another by
a fraction of that, so comparing two unpaired means needs thousands of episodes. Here
every policy plays the same episode starts as the APL, and since the simulator keys its
random numbers by event (the n-th cast of an ability rolls the same crit in both), the
per-episode difference policy - APL has far less spread than either. Reported per fight:
each policy's mean, and the paired difference to the APL (absolute and as a percent of
the APL's episode) with its 95 % Student-t interval and n.

Seeds: evaluation episode keys are `fold_in(fold_in(key(EVALUATION_DOMAIN), seed), i)`;
training derives all its keys by splitting `key(config.seed)`, so the two never share an
episode start whatever the seeds (the JSON records both).

With a target half-width, episodes are played in blocks until every paired interval is
that tight (in percent of the APL) or the episode limit is reached.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as scipy_stats

import sim
from search.evaluator import masked_logits
from search.planner import make_search
from search.types import SearchConfig
from sim._xla import jit
from sim.apl import load_apl
from sim.env import Env
from sim.rollout import step_batch
from sim.types import OBJECTIVE_CLEAR_TIME, State
from train.envs import parse_fight
from train.model import Model

DEFAULT_FIGHTS = ("patchwerk", "aoe", "route:sample_keystone")
EVALUATION_DOMAIN = 0x45564C31   # "EVL1": evaluation keys descend from this, never from key(training seed)
BASELINE = "apl"
HEADROOM = "headroom"


@dataclasses.dataclass(frozen=True)
class Policy:
    """One policy to evaluate: the default APL, another APL file, or a model alone / with search."""

    label: str
    kind: str                       # "apl" | "net" | "net+mcts" | "mcts" | "lookahead" (train/headroom.py)
    model: Model | None = None
    search: SearchConfig | None = None   # mcts: the simulator-only planner (APL prior, rollout values)
    apl_path: Path | None = None
    samples: int = 8                # lookahead: rollouts per action
    max_actions: int = 12           # lookahead: actions tried per decision
    horizon: float | None = None    # lookahead: seconds of rollout (None: to the fight's end)
    rollout_steps: int | None = None   # net+mcts: leaf rollout length (None: the model's own)
    search_value: str | None = None    # net+mcts: leaf value kind (SearchConfig.value; None: the model's own)


MODEL_KINDS = ("net", "net+mcts")


def policies_for(models: dict[str, Model], apls: dict[str, Path] | None = None,
                 headroom: tuple | None = None, planners: dict[str, SearchConfig] | None = None,
                 model_kinds: tuple[str, ...] = MODEL_KINDS, rollout_steps: int | None = None,
                 search_value: str | None = None) -> list[Policy]:
    """The baseline APL first, then other APLs, then each model alone and with search (the
    `model_kinds` asked for), then the simulator-only planners (label -> search settings),
    then the headroom lookahead ((samples, actions, horizon) per decision) when asked for.
    `rollout_steps`, `search_value`: the models' leaves in network + MCTS (None: each model's own)."""
    chosen = [Policy(BASELINE, "apl")]
    chosen += [Policy(label, "apl", apl_path=Path(path)) for label, path in (apls or {}).items()]
    chosen += [Policy(f"{label} {kind}", kind, model, rollout_steps=rollout_steps, search_value=search_value)
               for label, model in models.items() for kind in model_kinds]
    chosen += [Policy(label, "mcts", search=config) for label, config in (planners or {}).items()]
    if headroom is not None:
        samples, actions, horizon = headroom
        chosen.append(Policy(HEADROOM, "lookahead", samples=samples, max_actions=actions, horizon=horizon))
    return chosen


def planner_setting(text: str, simulations: int = 64) -> tuple[str, SearchConfig]:
    """`--mcts` values: "expected" (search the expected-value simulator, the determinization)
    or "futures:N" (N sampled futures per state, `SearchConfig.worlds`), each with an optional
    "@S": S simulations per decision for this planner (else `simulations`), so a slow, wide
    search can be played beside the usual one."""
    from portunus.errors import InputError

    def whole(digits: str, most: int) -> int | None:
        """1..most from plain ASCII digits (not '²', not a 5,000-digit string), else None."""
        return int(digits) if re.fullmatch(r"[0-9]{1,5}", digits) and 1 <= int(digits) <= most else None

    kind, at, count_text = text.strip().partition("@")
    if at and whole(count_text, 4096) is None:
        raise InputError(f"--mcts: simulations after '@' must be 1-4096, got '{text}'")
    count = int(count_text) if at else simulations
    suffix = f"@{count}" if at else ""
    name, _, worlds = kind.partition(":")
    if name == "expected" and not worlds:
        return f"mcts expected{suffix}", SearchConfig(expected_value=True, num_simulations=count)
    if name == "futures" and whole(worlds, 1024) is not None:
        return (f"mcts futures:{int(worlds)}{suffix}",
                SearchConfig(expected_value=False, worlds=int(worlds), num_simulations=count))
    raise InputError(f"--mcts must be 'expected' or 'futures:N' (N 1-1024), each optionally '@S' "
                     f"(S simulations), got '{text}'")


def interval(values: np.ndarray) -> dict[str, float]:
    """Mean with its 95 % Student-t interval (half-width NaN for one value)."""
    values = np.asarray(values, np.float64)
    n = len(values)
    if n > 1:
        half = float(scipy_stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    else:
        half = float("nan")
    mean = float(values.mean())
    return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half, "n": int(n)}


def paired(values: np.ndarray, baseline: np.ndarray, lower_is_better: bool,
           percent_of: np.ndarray | None = None) -> dict:
    """policy - baseline per episode: absolute and in percent of the baseline's episode (or of
    `percent_of`, per episode, where the measure itself can be near 0), each with its interval;
    `better` / `worse`: the percent interval excludes 0 that way."""
    values, baseline = np.asarray(values, np.float64), np.asarray(baseline, np.float64)
    scale = baseline if percent_of is None else np.asarray(percent_of, np.float64)
    percent = interval(100.0 * (values - baseline) / np.maximum(np.abs(scale), 1e-9))
    above, below = percent["low"] > 0, percent["high"] < 0
    return {"difference": interval(values - baseline), "percent": percent,
            "better": bool(below if lower_is_better else above),
            "worse": bool(above if lower_is_better else below)}


def episode_keys(seed: int, start: int, count: int) -> jax.Array:
    base = jax.random.fold_in(jax.random.key(EVALUATION_DOMAIN), seed)
    return jax.vmap(lambda index: jax.random.fold_in(base, index))(jnp.arange(start, start + count, dtype=jnp.uint32))


def policy_step(env: Env, policy: Policy, simulations: int) -> Callable:
    """(key, states) -> actions for a batch."""
    if policy.kind == "apl":
        apl = load_apl(env, policy.apl_path)
        return lambda key, states: jax.vmap(apl)(states)
    if policy.kind == "lookahead":
        from train.headroom import lookahead_policy

        return lookahead_policy(env, policy.samples, policy.max_actions, apl_path=policy.apl_path,
                                horizon=policy.horizon)
    if policy.kind == "mcts":
        search = make_search(env, policy.search)   # its own simulations (`planner_setting`)
        return lambda key, states: search(None, key, states).action
    model = policy.model
    if policy.kind == "net":
        def net(key, states: State):
            logits, _ = model.apply(model.params, jax.vmap(env.observation)(states))
            return jnp.argmax(masked_logits(logits, states.legal_action_mask), axis=-1)
        return net
    search = make_search(env, model.search_config(simulations, policy.rollout_steps, policy.search_value), model.apply)
    return lambda key, states: search(model.params, key, states).action


def make_player(env: Env, choose: Callable, chunk: int = 64) -> Callable[[jax.Array, int], State]:
    """(episode keys, search seed) -> final states: every episode played to its end. Compiled
    once per batch size, so blocks of episodes reuse it."""

    @jit
    def advance(states: State, key):
        def body(states, step_key):
            return step_batch(env, states, choose(step_key, states)), None

        states, _ = jax.lax.scan(body, states, jax.random.split(key, chunk))
        return states

    def play(keys: jax.Array, search_seed: int) -> State:
        return play_chunks(env, advance, jax.vmap(env.init)(keys), search_seed, chunk)

    return play


def play_chunks(env: Env, advance: Callable, carry, search_seed: int, chunk: int,
                states_of: Callable = lambda carry: carry):
    """Run `advance(carry, key)` (a jitted scan of `chunk` steps) until every episode has ended.
    The keys depend only on the search seed and the step index, so anything run through here
    (the paired players, the timeline's replay) plays the same episodes step for step."""
    for index in range(0, int(float(env.fight.time_limit) / 0.1) + chunk, chunk):
        carry = advance(carry, jax.random.fold_in(jax.random.key(search_seed), index))
        if bool(jnp.all(states_of(carry).terminated)):
            break
    return carry


def play(env: Env, choose: Callable, episodes: int, seed: int, chunk: int = 64) -> State:
    """Episodes 0..episodes-1 of the evaluation seed `seed`, to their end."""
    return make_player(env, choose, chunk)(episode_keys(seed, 0, episodes), seed)


def episode_metrics(env: Env, final: State) -> dict[str, np.ndarray]:
    time = np.asarray(final.time, np.float64)
    metrics = {"dps": np.asarray(final.damage_done, np.float64) / np.maximum(time, 1e-3),
               "damage": np.asarray(final.damage_done, np.float64)}
    if int(env.fight.objective) == OBJECTIVE_CLEAR_TIME:
        metrics["clear_time"] = time
        metrics["timed_out"] = (~np.asarray(final.terminated) | (time >= float(env.fight.time_limit) - 1e-3))
        if env.fight.own_damage_weight:
            metrics["score"] = route_score(time, metrics["damage"], env.fight.own_damage_weight, env.nominal_dps)
    return metrics


def route_score(clear_time: np.ndarray, damage: np.ndarray, own_damage_weight: float,
                nominal_dps: float) -> np.ndarray:
    """A route scored by the clear and the player's own damage, in seconds (lower is better):
    the clear time less the damage counted in seconds at the nominal DPS, weighted. It is the
    fight's reward (sim/fights.py) times -time limit, so one number ranks policies as training
    and search do, where the clear and the own damage alone can disagree."""
    return np.asarray(clear_time, np.float64) - own_damage_weight * np.asarray(damage, np.float64) / nominal_dps


@dataclasses.dataclass
class FightResult:
    fight: str
    objective: str                  # "dps" or "clear_time"
    results: dict[str, dict]        # policy label -> {"dps": interval, "clear_time": interval?, ...}
    paired: dict[str, dict] = dataclasses.field(default_factory=dict)   # label -> measure -> paired(...)
    episodes: int = 0
    tests: str = ""                 # the decision this fight tests (scenarios)
    stopped: str = ""               # why the episodes stopped
    timeline: dict | None = None    # casts and damage per window of fight time (train/timeline.py)
    definition: str = ""            # the fight as named in a config ("route:sample_keystone,own_damage=1")


# score: a route scored by own damage too (route_score); its percent is of the APL's clear time,
# since the score itself can be near 0
MEASURES = ("dps", "damage", "clear_time", "score")
LOWER_IS_BETTER = ("clear_time", "score")


def summarize(env: Env, metrics: dict[str, dict[str, np.ndarray]]) -> tuple[dict, dict]:
    """Per-policy intervals and paired differences to the baseline, from per-episode metrics."""
    results, pairs = {}, {}
    base = metrics[BASELINE]
    for label, values in metrics.items():
        entry = {measure: interval(values[measure]) for measure in MEASURES if measure in values}
        if "timed_out" in values:
            entry["timed_out"] = int(np.sum(values["timed_out"]))
        results[label] = entry
        if label != BASELINE:
            pairs[label] = {measure: paired(values[measure], base[measure], measure in LOWER_IS_BETTER,
                                            base["clear_time"] if measure == "score" else None)
                            for measure in MEASURES if measure in values}
    return results, pairs


def evaluate_fight(env: Env, policies: list[Policy], episodes: int, simulations: int, seed: int,
                   half_width: float | None = None, max_episodes: int | None = None, block: int | None = None,
                   on_block: Callable[[int, int], None] | None = None, name: str = "", tests: str = "",
                   timeline: int | None = None) -> FightResult:
    """Play every policy on the same episodes of `env`. Without `half_width`: `episodes`
    episodes in one batch. With it: blocks of `block` (default `episodes`) until the paired
    percent interval of the fight's objective is at most `half_width` for every policy, or
    `max_episodes` were played. `on_block(done, planned)` reports progress. `timeline`: that
    many windows of casts and damage, replaying the first block's episodes (train/timeline.py)."""
    for policy in policies:
        if policy.model is not None:
            policy.model.check_env(env)
    objective = "clear_time" if int(env.fight.objective) == OBJECTIVE_CLEAR_TIME else "dps"
    block = block or episodes
    limit = max(max_episodes or episodes, episodes) if half_width is not None else episodes
    steps = {policy.label: policy_step(env, policy, simulations) for policy in policies}
    players = {label: make_player(env, choose) for label, choose in steps.items()}
    metrics: dict[str, dict[str, list]] = {policy.label: {} for policy in policies}
    played, stopped = 0, "episodes"
    while played < limit:
        count = min(block, limit - played) if half_width is not None else limit
        keys = episode_keys(seed, played, count)
        for policy in policies:
            for measure, values in episode_metrics(env, players[policy.label](keys, seed + played)).items():
                metrics[policy.label].setdefault(measure, []).append(values)
        played += count
        if on_block is not None:
            on_block(played, limit)
        if half_width is not None and played >= 2 and len(policies) > 1:
            joined = {label: {m: np.concatenate(v) for m, v in values.items()} for label, values in metrics.items()}
            _, pairs = summarize(env, joined)
            if all(pair[objective]["percent"]["half_width"] <= half_width for pair in pairs.values()):
                stopped = f"every paired interval within +-{half_width:g} %"
                break
        elif half_width is not None and len(policies) == 1:
            break
    else:
        if half_width is not None:
            stopped = f"episode limit {limit} reached before +-{half_width:g} %"
    joined = {label: {m: np.concatenate(v) for m, v in values.items()} for label, values in metrics.items()}
    results, pairs = summarize(env, joined)
    return FightResult(name or env.fight.name, objective, results, pairs, played, tests, stopped,
                       None if timeline is None else fight_timeline(env, steps, seed, min(block, played), timeline))


def fight_timeline(env: Env, steps: dict[str, Callable], seed: int, episodes: int, windows: int) -> dict:
    """The first block's episodes again (same keys, same search seed), counted per window."""
    from train.timeline import make_timeline, summarize_timeline

    keys = episode_keys(seed, 0, episodes)
    counted = {label: make_timeline(env, choose, windows)(keys, seed) for label, choose in steps.items()}
    return summarize_timeline(env, counted, episodes, windows)


def evaluate(models: dict[str, Model], fights=DEFAULT_FIGHTS, episodes: int = 32, simulations: int = 64,
             seed: int = 0, profile=None, spec: str | None = None,
             on_progress: Callable[[str], None] | None = None,
             on_result: Callable[[FightResult], None] | None = None,
             apls: dict[str, Path] | None = None, half_width: float | None = None,
             max_episodes: int | None = None, block: int | None = None,
             on_block: Callable[[str, int, int], None] | None = None,
             tests: dict[str, str] | None = None, headroom: tuple | None = None,
             planners: dict[str, SearchConfig] | None = None,
             model_kinds: tuple[str, ...] = MODEL_KINDS, timeline: int | None = None,
             rollout_steps: int | None = None, search_value: str | None = None) -> list[FightResult]:
    """Every fight (a fight name, or a (label, fight name) pair): the APL, other `apls`
    (label -> file), `net` / `net+mcts` for each model (label -> Model; `model_kinds` says
    which), and the simulator-only `planners` (label -> search settings). `spec` None: the
    profile's own. `timeline`: windows of casts and damage per fight (`evaluate_fight`).
    `rollout_steps`, `search_value`: the models' leaves in network + MCTS (None: each model's own)."""
    slots = {model.slots for model in models.values()}
    if len(slots) > 1:
        raise ValueError("models to compare must share their enemy slots")
    slots = slots.pop() if slots else 8
    policies = policies_for(models, apls, headroom, planners, model_kinds, rollout_steps, search_value)
    outcomes = []
    for entry in fights:
        label, fight_name = entry if isinstance(entry, tuple) else (entry, entry)
        env = sim.make(spec, profile, parse_fight(fight_name, slots))
        if on_progress is not None:
            on_progress(label)
        outcome = evaluate_fight(
            env, policies, episodes, simulations, seed, half_width, max_episodes, block,
            None if on_block is None else (lambda done, planned, label=label: on_block(label, done, planned)),
            name=label, tests=(tests or {}).get(label, ""), timeline=timeline)
        outcome = dataclasses.replace(outcome, definition=fight_name)
        outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return outcomes


def seed_record(seed: int, episodes_by_fight: dict[str, int], models: dict[str, Model]) -> dict:
    """What the JSON says about seeds: the evaluation's, and each model's training seed."""
    training = {}
    for label, model in models.items():
        config = model.info.get("config") or {}
        training[label] = config.get("seed")
    return {"evaluation_seed": seed, "evaluation_domain": EVALUATION_DOMAIN,
            "episode_keys": "fold_in(fold_in(key(evaluation_domain), evaluation_seed), episode index)",
            "episodes": episodes_by_fight,
            "training_seeds": training,
            "disjoint": "training keys are split from key(training seed); evaluation keys are folded from "
                        "key(evaluation_domain): no episode start is shared"}


def to_json(outcomes: list[FightResult], settings: dict) -> dict:
    return {"settings": settings, "fights": [dataclasses.asdict(outcome) for outcome in outcomes]}


def separated(better: dict, worse: dict, lower_is_better: bool) -> bool:
    """Non-overlapping 95 % intervals in the better direction."""
    return better["high"] < worse["low"] if lower_is_better else better["low"] > worse["high"]
