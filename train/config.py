"""Training configuration: one frozen dataclass, read from TOML, checked field by field.

A run directory keeps the config it was started with (config.json); resuming
with a different value for any field that shapes the run is an error naming
the field. `iterations` and the logging/checkpoint cadence may change on resume.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any

from portunus.errors import InputError, closest, line_of
from portunus.inputs import read_text

SEARCH_POLICIES = ("gumbel", "muzero")
SEARCH_VALUES = ("network", "rollout", "bootstrap")   # search.types.VALUES, without importing search
POLICY_TARGETS = ("weights", "argmax")
# A replay is allocated whole at the start: past this a typo would fail deep inside XLA's
# allocator (16x configs/gpu.toml's; about 12 GB of decisions).
MAX_REPLAY_SIZE = 2**22
# Fields a resumed run may change: how long it goes on and how it reports.
RESUMABLE_FIELDS = ("iterations", "checkpoint_every", "keep_checkpoints", "log_every")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every training setting. Sizes are per fight: `envs_per_fight` environments play
    each entry of `fights` (a batch is one fight's envs; shapes differ between fights)."""

    spec: str = "retribution_paladin"
    profiles: tuple[str, ...] = ("default",)
    fights: tuple[str, ...] = ("patchwerk", "aoe", "route:sample_keystone")
    slots: int = 8                       # enemy slots of every fight: the network's input size
    envs_per_fight: int = 32
    unroll_length: int = 16              # decisions per environment per iteration
    num_simulations: int = 16            # search per self-play decision
    search_policy: str = "gumbel"
    gumbel_scale: float = 0.5            # exploration in self-play (0 = deterministic)
    search_value: str = "rollout"        # leaf values: APL rollouts, the value head, or both (docs/training.md)
    rollout_steps: int = 8               # APL decisions per leaf when search_value = "rollout" or "bootstrap"
    policy_target: str = "argmax"        # the search's best action (one-hot), or its improved policy
    warmstart_iterations: int = 40       # first iterations imitate the default APL
    stagger_decisions: int = 0           # at the start each env first plays 0..N APL decisions (unrecorded)
    width: int = 128
    blocks: int = 2
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    value_loss_weight: float = 1.0
    batch_size: int = 256
    updates_per_iteration: int = 8
    replay_size: int = 32_768
    min_replay: int = 1024
    seed: int = 0
    iterations: int = 140
    checkpoint_every: int = 20
    keep_checkpoints: int = 3
    log_every: int = 1

    def validate(self, where: str = "training config") -> "TrainConfig":
        positive = ("slots", "envs_per_fight", "unroll_length", "num_simulations", "width", "blocks",
                    "batch_size", "updates_per_iteration", "replay_size", "iterations", "checkpoint_every",
                    "keep_checkpoints", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{where}: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "max_grad_norm", "value_loss_weight"):
            if not getattr(self, name) > 0:
                raise InputError(f"{where}: {name} must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "gumbel_scale", "warmup_steps", "warmstart_iterations", "min_replay",
                     "rollout_steps", "stagger_decisions"):
            if getattr(self, name) < 0:
                raise InputError(f"{where}: {name} must be >= 0, got {getattr(self, name)}")
        if self.stagger_decisions > 10_000:   # a scan that long compiles and runs for minutes
            raise InputError(f"{where}: stagger_decisions must be <= 10000, got {self.stagger_decisions}")
        if self.search_policy not in SEARCH_POLICIES:
            raise InputError(f"{where}: search_policy must be one of {', '.join(SEARCH_POLICIES)}, "
                             f"got '{self.search_policy}'")
        if self.search_value not in SEARCH_VALUES:
            raise InputError(f"{where}: search_value must be one of {', '.join(SEARCH_VALUES)}, "
                             f"got '{self.search_value}'")
        if self.policy_target not in POLICY_TARGETS:
            raise InputError(f"{where}: policy_target must be one of {', '.join(POLICY_TARGETS)}, "
                             f"got '{self.policy_target}'")
        if not self.fights:
            raise InputError(f"{where}: fights must name at least one fight")
        if not self.profiles:
            raise InputError(f"{where}: profiles must name at least one profile")
        if self.replay_size > MAX_REPLAY_SIZE:
            raise InputError(f"{where}: replay_size must be <= {MAX_REPLAY_SIZE}, got {self.replay_size}")
        if self.replay_size < self.batch_size:
            raise InputError(f"{where}: replay_size ({self.replay_size}) must hold at least one batch "
                             f"(batch_size {self.batch_size})")
        if self.min_replay > self.replay_size:
            raise InputError(f"{where}: min_replay ({self.min_replay}) exceeds replay_size ({self.replay_size})")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}

    def replace(self, **changes) -> "TrainConfig":
        return config_from_dict({**self.to_dict(), **{k: v for k, v in changes.items() if v is not None}})

    def mismatch(self, other: "TrainConfig") -> str | None:
        """The first field (other than RESUMABLE_FIELDS) where `other` differs, as a message."""
        for field in dataclasses.fields(self):
            if field.name in RESUMABLE_FIELDS:
                continue
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if mine != theirs:
                return f"field '{field.name}' is {mine!r} in the run, {theirs!r} requested"
        return None


@dataclasses.dataclass(frozen=True)
class FinetuneRecipe:
    """What `portunus finetune` does where no flag says otherwise: the recipe measured from the
    shipped model on two characters (the Herald profile; a Templar with other gear), and 10 %
    of a from-scratch run's decisions and updates (docs/training.md, "Fine-tuning"). Absolute
    values, not scales of the base's config: a model fine-tuned twice would otherwise compound
    them (the shipped config's learning rate is already 0.3 x 0.3 of its start's)."""

    iterations: int = 70
    envs_per_fight: int = 8              # fewer environments, more rounds of self-play
    updates_per_iteration: int = 4
    learning_rate: float = 9e-4          # 10x the shipped config's 9e-5 (the from-scratch run's: 1e-3)
    policy_target: str = "weights"       # the search's improved policy, not its argmax
    replay_iterations: int = 8           # a replay that turns over: the base's habits leave it


FINETUNE = FinetuneRecipe()


def replay_size_for(base: TrainConfig, envs_per_fight: int, num_fights: int) -> int:
    """A fine-tuning's replay size: `FINETUNE.replay_iterations` iterations of decisions. With fewer
    environments a replay of the base's size fills slowly and never turns over in a short run,
    so its first iterations, played with the base's habits, are drawn most (70 iterations:
    about 3 times each against 0.15 or less for the last ten): docs/training.md."""
    return max(envs_per_fight * num_fights * base.unroll_length * FINETUNE.replay_iterations, base.batch_size)


def finetune_config(base: TrainConfig, profile: str, rollout_steps: int, *, iterations: int | None = None,
                    learning_rate_scale: float | None = None, simulations: int | None = None,
                    stagger: int | None = None, envs_per_fight: int | None = None,
                    updates_per_iteration: int | None = None, fights: tuple[str, ...] | None = None,
                    replay_size: int | None = None, policy_target: str | None = None, seed: int | None = None,
                    warmstart: int = 0) -> TrainConfig:
    """The base's config adapted to one character: `FINETUNE` where an argument is None, the
    base's own settings (network, search, fights, seed) for everything else."""
    if policy_target is not None and policy_target not in POLICY_TARGETS:
        raise InputError(f"--policy-target must be one of {', '.join(POLICY_TARGETS)}, got '{policy_target}'")
    fights = base.fights if fights is None else fights
    envs_per_fight = envs_per_fight or FINETUNE.envs_per_fight
    replay_size = replay_size or replay_size_for(base, envs_per_fight, len(fights))
    config = base.replace(
        profiles=[profile], warmstart_iterations=warmstart, iterations=iterations or FINETUNE.iterations,
        learning_rate=(FINETUNE.learning_rate if learning_rate_scale is None
                       else base.learning_rate * learning_rate_scale),
        num_simulations=simulations, rollout_steps=rollout_steps, stagger_decisions=stagger,
        envs_per_fight=envs_per_fight, updates_per_iteration=updates_per_iteration or FINETUNE.updates_per_iteration,
        replay_size=replay_size, min_replay=min(base.min_replay, replay_size), fights=fights,
        policy_target=policy_target or FINETUNE.policy_target, seed=seed)
    if warmstart >= config.iterations:
        raise InputError(f"--warmstart ({warmstart}) must be below the iterations ({config.iterations}): "
                         "the rest search and learn from it")
    return config


def config_from_dict(data: dict[str, Any], path: str = "training config", text: str = "") -> TrainConfig:
    """A checked TrainConfig; errors name the key (and its line when `text` is the file)."""
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    defaults = TrainConfig()
    values = {}
    for key, value in data.items():
        line = line_of(text, key) if text else None
        if key not in fields:
            raise _error(f"unknown key '{key}'{closest(key, list(fields))}", path, text, line)
        expected = type(getattr(defaults, key))
        if expected is tuple:
            if isinstance(value, str) or not isinstance(value, (list, tuple)) \
                    or not all(isinstance(item, str) for item in value):
                raise _type_error(key, "a list of strings", value, path, text, line)
            value = tuple(value)
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise _type_error(key, "a finite number", value, path, text, line)
            value = float(value)
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int) or not -2**31 <= value < 2**31:
                raise _type_error(key, "an integer that fits 32 bits", value, path, text, line)
        elif not isinstance(value, expected):
            raise _type_error(key, f"a {expected.__name__}", value, path, text, line)
        values[key] = value
    return TrainConfig(**values).validate(path)


def _type_error(key, wanted, value, path, text, line) -> InputError:
    return _error(f"'{key}' must be {wanted}, got {value!r}", path, text, line)


def _error(message: str, path: str, text: str, line: int | None) -> InputError:
    """`path:line: message` for a file, `path: message` for a dict from elsewhere."""
    return InputError(message, path, line) if text else InputError(f"{path}: {message}")


def load_config(path: str | Path | None) -> TrainConfig:
    """TrainConfig from a TOML file (every key optional), or the defaults."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    text = read_text(path, "training config")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"not valid TOML: {error}", str(path)) from None
    return config_from_dict(data, str(path), text)
