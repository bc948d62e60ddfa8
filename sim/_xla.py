"""XLA settings the simulator is measured with, applied before JAX starts.

The simulator's step is hundreds of tiny reductions over shapes like
[batch, 10]. XLA:CPU's YNNPACK library fusions run those about 1.7x slower
than its own loop fusions (`portunus bench sim`, 2-core CPU, batch 4096), so
they are turned off unless the user already chose an
`--xla_cpu_experimental_ynn_fusion_type` in XLA_FLAGS. The flag only touches
the CPU backend and must be set before the first JAX computation.
"""

import os

FLAG = "--xla_cpu_experimental_ynn_fusion_type"


def configure() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}=".strip()
