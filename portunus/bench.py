"""Benchmarks that write JSON: `portunus bench sim` measures simulator throughput (in both import
orders), `bench policies` policy quality, `bench search` search latency, `bench selfplay` training."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import jax

import sim
from sim._xla import compiler_options
from sim.policies import POLICIES
from sim.rollout import init_batch, make_chunk_runner, where_batch


def environment() -> dict:
    """What the numbers were measured on."""
    import flax
    import numpy

    device = jax.devices()[0]
    return {
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": __import__("jaxlib").__version__,
        "flax": flax.__version__,
        "numpy": numpy.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "sim_compiler_options": compiler_options(),
    }


# What runs before `import sim` in each order: nothing, or a JAX computation (which starts the
# backend, as a notebook or another library would). Both must give the same speed (sim/_xla.py).
IMPORT_ORDERS = {
    "sim-first": "",
    "jax-first": "import jax\njax.numpy.ones(3).block_until_ready()\n",
}
BENCH_FIGHTS = {
    "patchwerk": lambda: sim.patchwerk(),
    "aoe": lambda: sim.aoe(targets=5),
    "route": lambda: sim.load_route("sample_keystone"),
}
_CHILD = """
import json, sys
from portunus.bench import _bench_sim_child
_bench_sim_child(json.loads(sys.argv[1]))
"""


def bench_sim_orders(fight: str, batch_sizes: list[int], steps: int = 64, repeats: int = 5,
                     policies: tuple[str, ...] = ("random", "apl"), orders: tuple[str, ...] = tuple(IMPORT_ORDERS),
                     progress=None) -> dict:
    """Env steps per second per policy and batch size in each import order, each order in a fresh
    Python process (which ran first, a JAX computation or `import sim`, is a property of a process).

    The processes compile and warm up everything first, then take turns: every timed call of
    `steps` decisions in one order is followed by the same call in the other, so both orders see
    the same machine load (on the shared 2-core machine single runs vary by 20-40 %). Rows carry
    `import_order`; `order_ratio` is each order's median rate over the first order's."""
    children: dict[str, subprocess.Popen] = {}
    errors = {order: tempfile.TemporaryFile("w+") for order in orders}

    def answer(order: str, kind: str) -> str:
        line = children[order].stdout.readline()
        if not line.startswith(kind + " "):
            children[order].kill()
            errors[order].seek(0)
            raise RuntimeError(f"bench sim ({order}) failed: {(line + errors[order].read()).strip()[-2000:]}")
        return line[len(kind) + 1:]

    try:
        environment_of = {}
        for order in orders:       # one at a time: compiling is not what is measured
            arguments = json.dumps({"fight": fight, "batch_sizes": batch_sizes, "steps": steps,
                                    "policies": list(policies)})
            children[order] = subprocess.Popen([sys.executable, "-c", IMPORT_ORDERS[order] + _CHILD, arguments],
                                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors[order],
                                               text=True, bufsize=1)
            environment_of[order] = json.loads(answer(order, "ready"))
        rows = []
        for policy in policies:
            for batch in batch_sizes:
                rates = {order: [] for order in orders}
                for _ in range(repeats):
                    for order in orders:
                        children[order].stdin.write(f"time {policy} {batch}\n")
                        rates[order].append(float(answer(order, "rate")))
                for order in orders:
                    rows.append({"import_order": order, "policy": policy, "batch": batch,
                                 "steps_per_second": statistics.median(rates[order]), "repeats": rates[order]})
                    if progress is not None:
                        progress(rows[-1])
    finally:
        for child in children.values():
            if child.poll() is None:
                child.stdin.close()
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    child.kill()
        for file in errors.values():
            file.close()
    first = {(row["policy"], row["batch"]): row["steps_per_second"] for row in rows if row["import_order"] == orders[0]}
    ratio = {f"{row['import_order']} {row['policy']} {row['batch']}": row["steps_per_second"]
             / first[row["policy"], row["batch"]] for row in rows}
    return {"benchmark": "sim", "spec": "retribution_paladin", "fight": BENCH_FIGHTS[fight]().name,
            "steps_per_call": steps, "repeats": repeats, "environment": environment_of[orders[-1]],
            "import_orders": list(orders), "results": rows, "order_ratio": ratio}


def _bench_sim_child(arguments: dict) -> None:
    """One import order's process: compile every (policy, batch), say `ready`, then answer each
    `time POLICY BATCH` line on stdin with one timed call's `rate`, until stdin closes."""
    env = sim.make(fight=BENCH_FIGHTS[arguments["fight"]]())
    steps, runners = arguments["steps"], {}
    for policy_name in arguments["policies"]:
        runner = make_chunk_runner(env, POLICIES[policy_name](env), steps)
        for batch in arguments["batch_sizes"]:
            states = init_batch(env, jax.random.key(batch), batch)
            jax.block_until_ready(runner(states))  # compile and warm up
            runners[policy_name, batch] = (runner, states)
    print("ready", json.dumps(environment()), flush=True)
    for line in sys.stdin:
        _, policy_name, batch = line.split()
        runner, states = runners[policy_name, int(batch)]
        start = time.perf_counter()
        jax.block_until_ready(runner(states))
        print("rate", int(batch) * steps / (time.perf_counter() - start), flush=True)


POLICY_FIGHTS = {
    "patchwerk": lambda: sim.patchwerk(),
    "aoe5": lambda: sim.aoe(targets=5),
    "aoe10": lambda: sim.aoe(targets=10),
    "route": lambda: sim.load_route("sample_keystone"),
}


def bench_policies(policies: tuple[str, ...], fights: tuple[str, ...], iterations: int, seed: int,
                   progress=None) -> dict:
    """DPS (95 % interval) and fight / clear time of each policy on each fight, same seeds."""
    from sim.report import mean_and_error
    from sim.rollout import rollout

    rows = []
    for fight_name in fights:
        env = sim.make(fight=POLICY_FIGHTS[fight_name]())
        for policy_name in policies:
            states = rollout(env, POLICIES[policy_name](env), jax.random.key(seed), iterations)
            dps = states.damage_done / states.time
            dps_mean, dps_error = mean_and_error(dps)
            time_mean, time_error = mean_and_error(states.time)
            rows.append({"fight": fight_name, "policy": policy_name, "dps": dps_mean, "dps_error_95": dps_error,
                         "time": time_mean, "time_error_95": time_error,
                         "finished": float(states.terminated.mean())})
            if progress is not None:
                progress(rows[-1])
    return {"benchmark": "policies", "iterations": iterations, "seed": seed, "environment": environment(),
            "results": rows}


SEARCH_EVALUATORS = {"apl": "APL prior, APL rollouts of rollout_steps decisions",
                     "network": "PolicyValueNet width 128, 2 blocks, random weights: prior and value",
                     "network+rollouts": "that network's prior, APL rollouts of rollout_steps decisions as values "
                                         "(how the shipped model searches)"}


def bench_search(simulations: list[int], batch_sizes: list[int], repeats: int, policy: str = "gumbel",
                 evaluators: tuple[str, ...] = ("apl", "network"), progress=None,
                 rollout_steps: tuple[int, ...] = (8,)) -> dict:
    """Latency of one state at each simulation count, and throughput of batches at 64
    simulations (median and p95 of `repeats` timed searches after a warm-up), for each
    evaluator (`SEARCH_EVALUATORS`; the network has random weights: the cost, not the
    quality); those valued by rollouts at each of `rollout_steps`."""
    import numpy as np

    import search
    from train.network import init_network

    env = sim.make()
    state = search.state_from_sim(env, 30.0, jax.random.key(0))
    module, params = init_network(env, jax.random.key(0))
    rows = []
    settings = [(1, n) for n in simulations] + [(b, 64) for b in batch_sizes]
    runs = [(evaluator, steps) for evaluator in evaluators
            for steps in (rollout_steps if evaluator != "network" else (None,))]
    for evaluator, steps in runs:
        network = {"apply_fn": module.apply, "params": params} if evaluator != "apl" else {}
        leaves = {} if steps is None else {"rollout_steps": steps, "value": "rollout"}
        for batch, count in settings:
            planner = search.Planner(env, search.SearchConfig(policy=policy, num_simulations=count, **leaves),
                                     **network)
            states = jax.tree.map(lambda x: jax.numpy.broadcast_to(x, (batch,) + x.shape), state)
            states = states.replace(key=jax.random.split(jax.random.key(1), batch))
            jax.block_until_ready(planner.run(states, jax.random.key(0)))
            times = []
            for repeat in range(repeats if batch < 1024 else max(3, repeats // 5)):
                start = time.perf_counter()
                jax.block_until_ready(planner.run(states, jax.random.key(repeat)))
                times.append(time.perf_counter() - start)
            row = {"evaluator": evaluator, "rollout_steps": steps, "batch": batch, "simulations": count,
                   "median_ms": 1000 * float(np.median(times)), "p95_ms": 1000 * float(np.percentile(times, 95)),
                   "states_per_second": batch / float(np.median(times)), "repeats": len(times)}
            rows.append(row)
            if progress is not None:
                progress(row)
    return {"benchmark": "search", "policy": policy, "environment": environment(), "results": rows,
            "evaluators": {name: SEARCH_EVALUATORS[name] for name in evaluators}}


def bench_selfplay(envs_per_fight: list[int], config=None, repeats: int = 3, progress=None) -> dict:
    """Self-play training throughput: decisions per second of whole iterations (search for every
    decision, replay, learning) per number of environments, compile excluded."""
    from train.config import TrainConfig
    from train.trainer import Trainer

    config = config or TrainConfig()
    rows = []
    for envs in envs_per_fight:
        sized = config.replace(envs_per_fight=envs, warmstart_iterations=0, min_replay=0)
        with tempfile.TemporaryDirectory() as run:
            trainer = Trainer(sized, run)
            start = time.perf_counter()
            trainer.iterate()
            compile_seconds = time.perf_counter() - start
            seconds = [trainer.iterate().seconds for _ in range(repeats)]
            trainer.close()
        decisions = len(sized.fights) * envs * sized.unroll_length
        median = statistics.median(seconds)
        row = {"envs_per_fight": envs, "environments": len(sized.fights) * envs,
               "decisions_per_iteration": decisions, "median_iteration_s": median,
               "decisions_per_second": decisions / median, "first_iteration_s": compile_seconds,
               "simulations": sized.num_simulations, "search_value": sized.search_value}
        rows.append(row)
        if progress is not None:
            progress(row)
    return {"benchmark": "selfplay", "environment": environment(), "config": config.to_dict(), "results": rows}


def bench_crn(fight: str = "patchwerk", states: int = 512, seed: int = 0, chunk_steps: int = 128,
              progress=None) -> dict:
    """What common random numbers buy search: from `states` mid-fight states (the default APL
    played a random 5-250 decisions in), two different first actions (the APL's pick and a
    random other legal one), both followed by the APL to the fight's end. The spread of the
    return difference between the two branches when they share the fight's key (event-keyed
    draws: the same event rolls the same number in both) against when the second branch gets a
    fresh key (no common random numbers; step-keyed draws lay between the two, since a branch
    that shifts its casts by one step reads unrelated numbers from there on)."""
    import jax.numpy as jnp
    import numpy as np

    from sim._xla import jit
    from sim.apl import load_apl
    from sim.rollout import play_policy, step_batch
    from train.envs import parse_fight

    env = sim.make(fight=parse_fight(fight, 8))
    apl = load_apl(env, warn=None)
    run = make_chunk_runner(env, apl, chunk_steps)
    key_start, key_depth, key_other, key_fresh = jax.random.split(jax.random.key(seed), 4)
    starts = init_batch(env, key_start, states)
    depth = jax.random.randint(key_depth, (states,), 5, 251)
    @jit
    def played_in(states):
        """Each fight advanced by its own depth (a fight past it stays where it was)."""
        def one(states, index):
            stepped = play_policy(env, apl, states, 1)
            return where_batch(index < depth, stepped, states), None
        return jax.lax.scan(one, states, jnp.arange(250))[0]

    starts = played_in(starts)
    chosen = jax.vmap(apl)(starts)
    noise = jax.random.uniform(key_other, starts.legal_action_mask.shape)
    others = starts.legal_action_mask & (jnp.arange(env.num_actions)[None, :] != chosen[:, None])
    other = jnp.argmax(jnp.where(others, noise, -1.0), axis=-1)
    usable = np.asarray(jnp.any(others, axis=-1) & ~starts.terminated)
    fresh = starts.replace(key=jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key_fresh, jnp.arange(states)))

    def to_end(batch):
        while not bool(jnp.all(batch.terminated)):
            batch = run(batch)
        return np.asarray(batch.damage_done, np.float64)

    done = np.asarray(starts.damage_done, np.float64)
    returns = {}
    for name, begin, action in (("first", starts, chosen), ("other_shared_key", starts, other),
                                ("other_fresh_key", fresh, other), ("first_fresh_key", fresh, chosen)):
        returns[name] = to_end(step_batch(env, begin, action)) - done
        if progress is not None:
            progress(name)
    base = returns["first"][usable]
    shared = base - returns["other_shared_key"][usable]
    independent = base - returns["other_fresh_key"][usable]
    luck = base - returns["first_fresh_key"][usable]
    row = {
        "states": int(usable.sum()),
        "mean_return": float(base.mean()),
        "difference_std_shared_key": float(shared.std(ddof=1)),
        "difference_std_fresh_key": float(independent.std(ddof=1)),
        "same_action_std_fresh_key": float(luck.std(ddof=1)),
        "difference_mean_shared_key": float(shared.mean()),
        "difference_mean_fresh_key": float(independent.mean()),
        "variance_ratio": float(independent.var(ddof=1) / max(shared.var(ddof=1), 1e-12)),
    }
    return {"benchmark": "crn", "fight": fight, "seed": seed, "environment": environment(), "result": row}
