"""Several hosts, one run: `jax.distributed.initialize` before anything touches a device.

Launch the same `portunus train` command on every host with the same
`--coordinator HOST:PORT --num-processes N` and that host's `--process-id`;
`jax.devices()` then lists every device of every host and the trainer's mesh
spans them all. Only process 0 writes the config and the logs; orbax
coordinates the checkpoint writes.
"""

from __future__ import annotations

import jax

from portunus.errors import InputError


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if not any(given):
        return
    if not all(given):
        raise InputError("multi-host training needs all of --coordinator, --num-processes and --process-id")
    if not 0 <= process_id < num_processes:
        raise InputError(f"--process-id must be 0..{num_processes - 1}, got {process_id}")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
