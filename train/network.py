"""The policy/value network: a residual MLP over the simulator's observation vector.

`apply(params, observation) -> (logits [num_actions], value)`; the value is
linear, on the scale of the simulator's returns (about -1..1.5: damage over
nominal damage, or minus time over the timer). Search uses it through
`search.Planner(env, config, apply_fn=network.apply, params=params)`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class PolicyValueNet(nn.Module):
    num_actions: int
    width: int = 128
    blocks: int = 2

    @nn.compact
    def __call__(self, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = nn.Dense(self.width, name="embed")(observation)
        for _ in range(self.blocks):
            y = nn.Dense(self.width)(nn.relu(nn.LayerNorm()(x)))
            y = nn.Dense(self.width)(nn.relu(y))
            x = x + y
        x = nn.relu(nn.LayerNorm()(x))
        logits = nn.Dense(self.num_actions, name="policy")(x)
        value = nn.Dense(1, name="value")(x)[..., 0]
        return logits, value


def init_network(env, key: jax.Array, width: int = 128, blocks: int = 2):
    """(module, params) for `env`'s observation and action sizes."""
    module = PolicyValueNet(num_actions=env.num_actions, width=width, blocks=blocks)
    params = module.init(key, jnp.zeros(env.observation_size))
    return module, params
