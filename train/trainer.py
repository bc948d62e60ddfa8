"""The training loop: one jitted iteration = self-play on every fight, replay, learning.

Data parallel with `jax.sharding`: a 1-D mesh "data" over every device of every
host; environment batches are split over it, the network, optimizer and replay
are replicated, and each learner batch is split over it, so XLA all-reduces the
gradients. The same program runs on 1 CPU, 8 forced CPU devices or many GPU
hosts (after `jax.distributed.initialize`, see train/distributed.py).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import flashbax as fbx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from portunus.errors import InputError
from sim._xla import jit
from sim.apl import load_apl
from train.checkpoints import RunDirectory
from train.config import TrainConfig
from train.envs import make_envs, stats_for_envs, stats_table
from train.learner import make_optimizer, make_update
from train.logbook import Logbook
from train.network import PolicyValueNet
from train.selfplay import apl_actor, search_actor, stagger, unroll
from train.types import Carry, TrainState, Transition


def data_mesh() -> Mesh:
    return Mesh(np.array(jax.devices()), ("data",))


@dataclasses.dataclass
class IterationResult:
    iteration: int
    metrics: dict[str, float]
    seconds: float


class Trainer:
    """Builds a run from its config; `run()` trains, checkpoints and logs."""

    def __init__(self, config: TrainConfig, run: str | Path, resume: bool = False, init_params: Any = None):
        self.config = config.validate()
        self.mesh = data_mesh()
        devices = self.mesh.devices.size
        if config.envs_per_fight % devices:
            raise InputError(f"envs_per_fight ({config.envs_per_fight}) must be a multiple of the number of "
                             f"devices ({devices})")
        if config.batch_size % devices:
            raise InputError(f"batch_size ({config.batch_size}) must be a multiple of the number of "
                             f"devices ({devices})")
        self.envs = make_envs(config)
        first = self.envs[0][1]
        self.observation_size = first.observation_size
        self.module = PolicyValueNet(num_actions=first.num_actions, width=config.width, blocks=config.blocks)
        self.optimizer = make_optimizer(config)
        items_per_iteration = len(self.envs) * config.envs_per_fight * config.unroll_length
        self.replay_capacity = max(config.replay_size, items_per_iteration)
        self.buffer = fbx.make_item_buffer(max_length=self.replay_capacity,
                                           min_length=max(config.min_replay, config.batch_size),
                                           sample_batch_size=config.batch_size, add_batches=True)
        self.stats = [stats_for_envs(stats_table(config, env), config.envs_per_fight) for _, env in self.envs]
        self.run_dir = RunDirectory(run, config, resume)
        self.shardings = self._shardings()
        # The APLs that stagger the starts (compiled outside the jit: they read concrete tables).
        apls = None if resume or not config.stagger_decisions else [load_apl(env, warn=None) for _, env in self.envs]
        init = jax.jit(functools.partial(self._init_carry, stagger_apls=apls), out_shardings=self.shardings)
        self.carry = init(jax.random.key(config.seed), init_params)
        self.start_iteration = 0
        self.notes: list[str] = []          # what a resume had to work around (damaged checkpoints, torn logs)
        if resume:
            self.carry, meta, self.notes = self.run_dir.restore_readable(self.carry)
            self.start_iteration = int(meta["iteration"])
        self._iterations: dict[bool, Callable] = {}
        self.logbook = Logbook(self.run_dir.path, self.start_iteration if resume else None,
                               enabled=jax.process_index() == 0)
        self.notes += self.logbook.notes

    # --- the pure parts -------------------------------------------------------------------

    def _init_carry(self, key, init_params=None, stagger_apls=None) -> Carry:
        network_key, env_key, run_key = jax.random.split(key, 3)
        params = init_params if init_params is not None else \
            self.module.init(network_key, jnp.zeros(self.observation_size))
        train = TrainState(params=params, opt_state=self.optimizer.init(params), step=jnp.int32(0))
        example = Transition(observation=jnp.zeros(self.observation_size), legal=jnp.zeros(self.module.num_actions, bool),
                             policy=jnp.zeros(self.module.num_actions), value=jnp.float32(0.0))
        envs = tuple(jax.vmap(env.init)(jax.random.split(jax.random.fold_in(env_key, index),
                                                         self.config.envs_per_fight), stats)
                     for index, ((_, env), stats) in enumerate(zip(self.envs, self.stats)))
        if stagger_apls:
            envs = tuple(stagger(env, apl, jax.random.fold_in(env_key, len(self.envs) + index), states, stats,
                                 self.config.stagger_decisions)
                         for index, ((_, env), apl, states, stats) in enumerate(zip(self.envs, stagger_apls, envs,
                                                                                     self.stats)))
        return Carry(train=train, replay=self.buffer.init(example), envs=envs, key=run_key,
                     iteration=jnp.int32(0))

    def _shardings(self) -> Carry:
        shape = jax.eval_shape(self._init_carry, jax.random.key(0))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        batch = NamedSharding(self.mesh, PartitionSpec("data"))
        everything = jax.tree.map(lambda _: replicated, shape)
        return everything.replace(envs=jax.tree.map(lambda _: batch, shape.envs))

    def _make_iteration(self, imitate_apl: bool) -> Callable:
        config, apply_fn = self.config, self.module.apply
        plays = []
        for _, env in self.envs:
            act = apl_actor(env, load_apl(env)) if imitate_apl else search_actor(env, config, apply_fn)
            plays.append(unroll(env, act, apply_fn, config.unroll_length))
        update = make_update(apply_fn, self.optimizer, config.value_loss_weight)
        batch_sharding = NamedSharding(self.mesh, PartitionSpec("data"))

        def iteration(carry: Carry):
            key, learn_key, *play_keys = jax.random.split(carry.key, len(plays) + 2)
            envs, items, metrics = [], [], {}
            for (name, _), play, states, stats, play_key in zip(self.envs, plays, carry.envs, self.stats, play_keys):
                states, transitions, episode = play(carry.train.params, play_key, states, stats)
                envs.append(states)
                items.append(transitions)
                metrics.update({f"selfplay/{name}/{k}": v for k, v in episode.items()})
            items = jax.tree.map(lambda *parts: jnp.concatenate(parts), *items)
            replay = self.buffer.add(carry.replay, items)
            ready = self.buffer.can_sample(replay)

            def learn(train: TrainState, sample_key):
                batch = jax.lax.with_sharding_constraint(self.buffer.sample(replay, sample_key).experience,
                                                         batch_sharding)
                updated, learned = update(train, batch)
                # Until the replay holds min_replay items, updates are computed and discarded.
                return jax.tree.map(lambda new, old: jnp.where(ready, new, old), updated, train), learned

            train, learned = jax.lax.scan(learn, carry.train,
                                          jax.random.split(learn_key, config.updates_per_iteration))
            metrics.update({f"learn/{k}": jnp.where(ready, jnp.mean(v), jnp.nan) for k, v in learned.items()})
            metrics["learn/updates"] = train.step
            metrics["replay/items"] = jnp.where(replay.is_full, self.replay_capacity, replay.current_index)
            carry = Carry(train=train, replay=replay, envs=tuple(envs), key=key, iteration=carry.iteration + 1)
            return carry, metrics

        replicated = NamedSharding(self.mesh, PartitionSpec())
        return jit(iteration, in_shardings=(self.shardings,), out_shardings=(self.shardings, replicated),
                       donate_argnums=0)

    # --- the loop -------------------------------------------------------------------------

    def iterate(self) -> IterationResult:
        """One iteration: the APL teaches during warm start, search plays after it."""
        done = int(self.carry.iteration)
        imitate = done < self.config.warmstart_iterations
        if imitate not in self._iterations:
            self._iterations[imitate] = self._make_iteration(imitate)
        start = time.perf_counter()
        self.carry, metrics = self._iterations[imitate](self.carry)
        metrics = {name: float(np.asarray(value)) for name, value in metrics.items()}
        seconds = time.perf_counter() - start
        decisions = len(self.envs) * self.config.envs_per_fight * self.config.unroll_length
        metrics["selfplay/steps_per_second"] = decisions / seconds
        metrics["selfplay/imitating_apl"] = float(imitate)
        return IterationResult(done + 1, metrics, seconds)

    def save(self, iteration: int, metrics: dict[str, float] | None = None) -> None:
        self.run_dir.save(iteration, self.carry, {"iteration": iteration, "metrics": metrics or {}})

    def run(self, iterations: int | None = None, on_iteration: Callable[[IterationResult], None] | None = None,
            stop_after: int | None = None) -> int:
        """Train until `iterations` in total (default: the config's). Saves every
        `checkpoint_every` and on exit (also on SIGINT/SIGTERM). `stop_after` ends the
        process abruptly after that iteration, without saving: a simulated kill for tests."""
        target = self.config.iterations if iterations is None else iterations
        iteration, last_saved = int(self.carry.iteration), int(self.carry.iteration)
        stop = {"signal": None}

        def request_stop(signum, _frame):
            stop["signal"] = signum

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            result = None
            while iteration < target and stop["signal"] is None:
                result = self.iterate()
                iteration = result.iteration
                if iteration % self.config.log_every == 0 or iteration == target:
                    self.logbook.write(iteration, result.metrics)
                if on_iteration is not None:
                    on_iteration(result)
                if iteration % self.config.checkpoint_every == 0:
                    self.save(iteration, result.metrics)
                    last_saved = iteration
                if stop_after is not None and iteration >= stop_after:
                    os._exit(137)
            if iteration != last_saved:
                self.save(iteration, result.metrics if result else None)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.logbook.close()
        return iteration

    def close(self) -> None:
        self.run_dir.close()
