"""The AlphaZero loss and one optimizer update.

loss = cross-entropy(search policy, network policy) + c * (value - n-step return)^2;
weight decay in AdamW; gradients clipped by global norm; warm-up then cosine
decay of the learning rate.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from search.evaluator import masked_logits
from train.types import TrainState, Transition


def make_optimizer(config) -> optax.GradientTransformation:
    total = max(config.iterations * config.updates_per_iteration, config.warmup_steps + 1)
    schedule = optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, config.warmup_steps, total,
                                                  end_value=config.learning_rate * 0.1)
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adamw(schedule, weight_decay=config.weight_decay))


def make_loss(apply_fn: Callable, value_loss_weight: float):
    def loss_fn(params, batch: Transition):
        logits, value = apply_fn(params, batch.observation)
        log_policy = jax.nn.log_softmax(masked_logits(logits, batch.legal))
        policy_loss = -jnp.mean(jnp.sum(jnp.where(batch.legal, batch.policy * log_policy, 0.0), axis=-1))
        value_error = value - batch.value
        value_loss = jnp.mean(value_error ** 2)
        probabilities = jnp.exp(log_policy)
        entropy = -jnp.mean(jnp.sum(jnp.where(batch.legal, probabilities * log_policy, 0.0), axis=-1))
        agreement = jnp.mean(jnp.argmax(log_policy, -1) == jnp.argmax(batch.policy, -1))
        metrics = {"policy_loss": policy_loss, "value_loss": value_loss, "value_error": jnp.mean(jnp.abs(value_error)),
                   "policy_entropy": entropy, "policy_agreement": agreement}
        return policy_loss + value_loss_weight * value_loss, metrics

    return loss_fn


def make_update(apply_fn: Callable, optimizer: optax.GradientTransformation, value_loss_weight: float):
    """(TrainState, batch) -> (TrainState, metrics)."""
    grad_fn = jax.value_and_grad(make_loss(apply_fn, value_loss_weight), has_aux=True)

    def update(train: TrainState, batch: Transition):
        (loss, metrics), grads = grad_fn(train.params, batch)
        updates, opt_state = optimizer.update(grads, train.opt_state, train.params)
        params = optax.apply_updates(train.params, updates)
        metrics = {**metrics, "loss": loss, "grad_norm": optax.tree.norm(grads)}
        return TrainState(params=params, opt_state=opt_state, step=train.step + 1), metrics

    return update
