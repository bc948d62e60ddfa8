"""The XLA options the simulator's hot functions are compiled with, per function.

The simulator's step is hundreds of tiny reductions over shapes like
[batch, 10]. XLA:CPU's YNNPACK library fusions run those far slower than its
own loop fusions, so every jitted function that steps the simulator many times
(`make_chunk_runner`, search, self-play, evaluation, the service, the overlay)
is compiled by `sim.jit`, which passes `xla_cpu_experimental_ynn_fusion_type=`
(no YNN fusions) as that function's own compiler option.

Why per function and not XLA_FLAGS: the flag used to be set in XLA_FLAGS when
`sim` was imported, but XLA reads XLA_FLAGS once, when the backend starts; if
any JAX computation ran before `import sim` (`import jax; jnp.ones(3); import
sim`), the flag was silently ignored and the same chunk runner at batch 4096 ran
at 0.29 M instead of 3.7 M steps/s (simple policy, 64 decisions, 2-core CPU, jax
0.10.2). Options given to `jax.jit` apply whatever ran first, and importing `sim`
changes no process-wide setting: `portunus bench sim --batch-sizes 1,256,4096
--policies simple,apl --repeats 9` measured jax-first / sim-first = 0.91-1.08
(README, "Import order").

A user who names the flag in XLA_FLAGS keeps their choice (no option is passed
then); other backends than the CPU get no options.
"""

from __future__ import annotations

import functools
import os

import jax

OPTION = "xla_cpu_experimental_ynn_fusion_type"


@functools.cache
def _cpu_backend() -> bool:
    return jax.default_backend() == "cpu"


def compiler_options() -> dict[str, str]:
    """The options `jit` passes on this backend (empty on GPU/TPU or when XLA_FLAGS names the flag)."""
    if f"--{OPTION}" in os.environ.get("XLA_FLAGS", "") or not _cpu_backend():
        return {}
    return {OPTION: ""}


def jit(fun=None, **jit_kwargs):
    """`jax.jit` with the simulator's compiler options: use it for anything that steps the simulator.
    Also a decorator (`@sim.jit`). The backend is looked up when the function is wrapped, not at import."""
    if fun is None:
        return functools.partial(jit, **jit_kwargs)
    options = {**compiler_options(), **jit_kwargs.pop("compiler_options", {})}
    return jax.jit(fun, compiler_options=options or None, **jit_kwargs)
