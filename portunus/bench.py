"""Benchmarks that write JSON: `portunus bench sim` measures simulator throughput."""

from __future__ import annotations

import platform
import statistics
import time

import jax

import sim
from sim.policies import POLICIES
from sim.rollout import init_batch, make_chunk_runner


def environment() -> dict:
    """What the numbers were measured on."""
    import flax
    import numpy

    device = jax.devices()[0]
    return {
        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "device_count": jax.device_count(),
        "cpu_count": __import__("os").cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": __import__("jaxlib").__version__,
        "flax": flax.__version__,
        "numpy": numpy.__version__,
        "xla_flags": __import__("os").environ.get("XLA_FLAGS", ""),
    }


def bench_sim(env: sim.Env, batch_sizes: list[int], steps: int = 64, repeats: int = 5,
              policies: tuple[str, ...] = ("random", "simple"), progress=None) -> dict:
    """Env steps per second (decisions, including the policy) per batch size and policy.

    Each measurement runs `steps` decisions of a jitted `lax.scan` from the same
    fresh states; compilation and one warm-up call are excluded. Reported: the
    median over `repeats`, and every repeat.
    """
    results = []
    for policy_name in policies:
        policy = POLICIES[policy_name](env)
        runner = make_chunk_runner(env, policy, steps)
        for batch in batch_sizes:
            states = init_batch(env, jax.random.key(batch), batch)
            jax.block_until_ready(runner(states))  # compile and warm up
            rates = []
            for _ in range(repeats):
                start = time.perf_counter()
                jax.block_until_ready(runner(states))
                rates.append(batch * steps / (time.perf_counter() - start))
            results.append({"policy": policy_name, "batch": batch, "steps_per_second": statistics.median(rates),
                            "repeats": rates})
            if progress is not None:
                progress(results[-1])
    return {"benchmark": "sim", "spec": env.spec.name, "fight": env.fight.name,
            "steps_per_call": steps, "repeats": repeats, "environment": environment(), "results": results}
