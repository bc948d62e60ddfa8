"""Experiment: how much can one step of rollout policy improvement gain over the APL?

At every decision, each legal action is valued by playing the APL after it to the end
of the fight (or for `--horizon` decisions, then the spec's nominal DPS), and the best
action is played on the real, random simulator when it beats the APL's choice by more
than `--margin` (reward scale, 1.0 = the whole fight at nominal DPS). This is the
improvement operator search applies, without a tree and without a network: what search
with APL-rollout values can gain from one decision of lookahead.

Three ways to value a rollout:
  --samples 0   the expected-value simulator (crits and procs at their expectation).
  --phases K    the same, averaged over K random starting phases of the expected-value
                proc accumulators (which decide when each deterministic proc falls).
  --samples K   the mean of K random rollouts (procs drawn; crits at their expectation,
                which only removes noise), with the same K draws for every action.

    python scripts/rollout_improvement.py --fight patchwerk --episodes 16 --margins 0,0.001
    python scripts/rollout_improvement.py --compare-states 6 --seed 3   # where the two disagree
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

import sim
import sim.engine as engine
from sim.apl import load_apl
from train.envs import parse_fight
from train.evaluate import interval, play

_EXPECTED_CRITS = [False]
_crit_factor = engine.crit_factor
engine.crit_factor = lambda roll, chance, spec, expected: _crit_factor(roll, chance, spec,
                                                                       expected or _EXPECTED_CRITS[0])


@contextlib.contextmanager
def expected_crits():
    """While tracing inside this block, crits deal their expected damage (procs stay random)."""
    _EXPECTED_CRITS[0] = True
    try:
        yield
    finally:
        _EXPECTED_CRITS[0] = False


WHOLE_FIGHT = 400  # APL decisions: more than a 300 s Patchwerk holds


def apl_rollout(step, apl, state, action, horizon: int):
    """The state after `action` and then `horizon` APL decisions, stepping with `step`."""
    end, _ = jax.lax.scan(lambda s, _: (step(s, apl(s)), None), step(state, action), None, length=horizon)
    return end


def action_values(env, apl, horizon: int, samples: int, phases: int = 0):
    """(state, key) -> value of every action [A+1] (-inf where illegal)."""
    model = dataclasses.replace(env, expected_value=True) if samples == 0 else env
    tables = env.fight_tables
    nominal = float(env.nominal_dps)

    def model_step(state, action):
        with expected_crits():
            return model.step(state, action)

    def rollout_return(state, action, key):
        if samples:
            start = state.replace(key=key)
        elif phases:
            start = state.replace(proc_accumulator=jax.random.uniform(key, state.proc_accumulator.shape))
        else:
            start = state
        end = apl_rollout(model_step, apl, start, action, horizon)
        rest = nominal * jnp.maximum(tables.time_limit - end.time, 0.0)
        return (end.damage_done - state.damage_done + rest) * tables.reward_scale

    def values(state, key):
        keys = jax.random.split(key, max(samples, phases, 1))
        per_action = jax.vmap(lambda a: jnp.mean(jax.vmap(lambda k: rollout_return(state, a, k))(keys)))
        return jnp.where(state.legal_action_mask, per_action(jnp.arange(env.num_actions)), -jnp.inf)

    return values


def improved_policy(env, apl, horizon: int, samples: int, phases: int, margin: float):
    values = action_values(env, apl, horizon, samples, phases)

    def choose(key, states):
        q = jax.vmap(values)(states, jax.random.split(key, states.time.shape[0]))
        base = jax.vmap(apl)(states)
        q_base = jnp.take_along_axis(q, base[:, None], axis=1)[:, 0]
        return jnp.where(q.max(axis=1) > q_base + margin, q.argmax(axis=1), base)

    return choose


def compare_values(env, apl, states: int, draws: int, seed: int) -> None:
    """Along one APL fight: where expected-value rollouts prefer another action than the APL's by
    more than 1e-4, print that preference beside the mean difference over `draws` fully random
    rollouts to the end (both actions from the same keys) with its 95 % half-width."""
    expected = action_values(env, apl, WHOLE_FIGHT, 0)
    values = jax.jit(lambda state: expected(state, jax.random.key(0)))

    @jax.jit
    def random_difference(state, action, key):
        def total(a, k):
            end = apl_rollout(env.step, apl, state.replace(key=k), a, WHOLE_FIGHT)
            return (end.damage_done - state.damage_done) * env.fight_tables.reward_scale

        keys = jax.random.split(key, draws)
        difference = jax.vmap(lambda k: total(action, k) - total(apl(state), k))(keys)
        return difference.mean(), 1.96 * difference.std() / np.sqrt(draws)

    step, choose = jax.jit(env.step), jax.jit(apl)
    state, found, names = env.init(jax.random.key(seed)), 0, env.spec.action_names
    while not bool(state.terminated) and found < states:
        base, q = int(choose(state)), np.asarray(values(state))
        best = int(q.argmax())
        if best != base and q[best] > q[base] + 1e-4:
            mean, half = random_difference(state, best, jax.random.key(found))
            print(f"t={float(state.time):6.1f} s: expected-value rollouts prefer {names[best]} to the APL's "
                  f"{names[base]} by {q[best] - q[base]:+.5f}; {draws} random rollouts: {float(mean):+.5f} "
                  f"+- {float(half):.5f}", flush=True)
            found += 1
        state = step(state, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fight", default="patchwerk")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=WHOLE_FIGHT, help="APL decisions per rollout")
    parser.add_argument("--samples", type=int, default=0, help="0: expected-value rollouts; K: K random ones")
    parser.add_argument("--phases", type=int, default=0, help="expected values over K random proc phases")
    parser.add_argument("--margins", default="0", help="comma-separated margins to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-states", type=int, default=0,
                        help="instead: compare expected-value and random action values at N states")
    parser.add_argument("--draws", type=int, default=512, help="random rollouts per action for --compare-states")
    args = parser.parse_args()
    env = sim.make("retribution_paladin", None, parse_fight(args.fight, 8))
    apl = load_apl(env)
    if args.compare_states:
        compare_values(env, apl, args.compare_states, args.draws, args.seed)
        return
    runs = [("apl", lambda key, states: jax.vmap(apl)(states))]
    for margin in map(float, args.margins.split(",")):
        label = f"improved (horizon {args.horizon}, samples {args.samples}, phases {args.phases}, margin {margin:g})"
        runs.append((label, improved_policy(env, apl, args.horizon, args.samples, args.phases, margin)))
    for label, choose in runs:
        start = time.time()
        final = play(env, choose, args.episodes, args.seed)
        seconds = np.asarray(final.time)
        dps, clear = interval(np.asarray(final.damage_done) / seconds), interval(seconds)
        print(f"{args.fight} {label}: DPS {dps['mean']:,.1f} [{dps['low']:,.1f}, {dps['high']:,.1f}], "
              f"time {clear['mean']:,.1f} s [{clear['low']:,.1f}, {clear['high']:,.1f}] "
              f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
