"""The vocabulary of training: what one run carries from iteration to iteration.

`Carry` is everything a run needs to go on exactly where it stopped (network,
optimizer, replay, environments with their keys, the run's key, the iteration
counter); a checkpoint stores one Carry. `Transition` is one replay item.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct


@struct.dataclass
class TrainState:
    params: Any
    opt_state: Any
    step: jax.Array               # i32[]: optimizer updates done


@struct.dataclass
class Transition:
    observation: jax.Array        # f32[O]
    legal: jax.Array              # bool[A+1]
    policy: jax.Array             # f32[A+1]: the search's improved policy (or the APL's one-hot)
    value: jax.Array              # f32[]: n-step return to the unroll's end, bootstrapped


@struct.dataclass
class Carry:
    train: TrainState
    replay: Any                   # flashbax TrajectoryBufferState of Transition
    envs: tuple                   # one batch of sim States per configured fight
    key: jax.Array
    iteration: jax.Array          # i32[]: iterations done
