"""Run directories and orbax checkpoints.

A run directory (under checkpoints/ by default) holds:
    config.json       the TrainConfig the run was started with
    metrics.jsonl     one line of metrics per logged iteration
    tensorboard/      TensorBoard event files
    steps/<N>/        orbax checkpoints: "carry" (everything to resume exactly),
                      "params" (the network alone, for `load_model`) and "meta" (JSON)

Saves are synchronous and atomic (orbax writes a temporary directory and renames
it), the newest `keep_checkpoints` are kept. PRNG keys are stored as their raw
uint32 data and re-wrapped on restore. A resume restores the newest step that
reads back; newer, damaged steps are moved to `damaged-steps/` (never deleted),
so at most the interval after the last good step is lost.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from portunus.errors import InputError
from train.config import TrainConfig, config_from_dict

CONFIG_FILE = "config.json"
STEPS_DIR = "steps"
DAMAGED_DIR = "damaged-steps"


def _is_key(leaf) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def keys_to_data(tree):
    return jax.tree.map(lambda leaf: jax.random.key_data(leaf) if _is_key(leaf) else leaf, tree)


def data_to_keys(tree, template):
    """Wrap the raw key data in `tree` wherever `template` holds typed keys."""
    return jax.tree.map(lambda model, leaf: jax.random.wrap_key_data(leaf) if _is_key(model) else leaf,
                        template, tree)


def abstract(tree):
    """Shapes, dtypes and shardings of `tree` (the restore target)."""
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding), tree)


class RunDirectory:
    """One training run on disk; `create` refuses to reuse a run unless resuming."""

    def __init__(self, path: str | Path, config: TrainConfig, resume: bool):
        self.path = Path(path)
        config_path = self.path / CONFIG_FILE
        if resume:
            if not config_path.exists():
                raise InputError(f"cannot resume: {self.path} is not a training run (no {CONFIG_FILE})")
            saved = read_config(self.path)
            problem = saved.mismatch(config)
            if problem:
                raise InputError(f"config mismatch on resume of {self.path}: {problem}")
        elif config_path.exists() or (self.path / STEPS_DIR).exists():
            raise InputError(f"run directory {self.path} already holds a run; pass --resume to continue it "
                             f"or choose another --run directory")
        self.path.mkdir(parents=True, exist_ok=True)
        if jax.process_index() == 0:
            write_json_atomic(config_path, config.to_dict())
        self.manager = ocp.CheckpointManager(
            (self.path / STEPS_DIR).absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True,
                                                 enable_async_checkpointing=False),
            item_names=("carry", "params", "meta"))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, carry, meta: dict[str, Any]) -> None:
        self.manager.save(step, args=ocp.args.Composite(
            carry=ocp.args.StandardSave(keys_to_data(carry)),
            params=ocp.args.StandardSave(carry.train.params),
            meta=ocp.args.JsonSave(meta)), force=True)
        self.manager.wait_until_finished()

    def restore(self, template, step: int | None = None):
        """(carry, meta) of `step` (default: the newest), laid out like `template`."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise InputError(f"cannot resume: {self.path} has no checkpoint yet")
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                carry=ocp.args.StandardRestore(abstract(keys_to_data(template))),
                meta=ocp.args.JsonRestore()))
        except Exception as error:  # orbax raises many kinds for damaged files
            raise InputError(f"checkpoint {self.path / STEPS_DIR / str(step)} is unreadable or does not match "
                             f"this run ({type(error).__name__}: {_first_line(error)}); other steps: "
                             f"{[s for s in self.manager.all_steps() if s != step] or 'none'}") from None
        return data_to_keys(restored.carry, template), restored.meta

    def restore_readable(self, template):
        """(carry, meta, notes) of the newest step that reads back; each newer, unreadable step is
        moved to DAMAGED_DIR and named in `notes`. InputError (the newest step's) if none reads."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        if not steps:
            self.close()
            raise InputError(f"cannot resume: {self.path} has no checkpoint yet")
        failures = []
        for step in steps:
            try:
                carry, meta = self.restore(template, step)
            except InputError as error:
                failures.append((step, error))
                continue
            notes = [self._set_aside(bad, error) for bad, error in failures]
            if failures:
                self.manager.reload()
                notes.append(f"resuming from step {step}, the newest checkpoint that reads back")
            return carry, meta, notes
        self.close()        # the run cannot go on: release orbax's threads before the error unwinds
        raise failures[0][1]

    def _set_aside(self, step: int, error: InputError) -> str:
        source = self.path / STEPS_DIR / str(step)
        target = self.path / DAMAGED_DIR / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        if jax.process_index() == 0:
            target.parent.mkdir(exist_ok=True)
            source.rename(target)
        return f"{error}; moved to {target}"

    def close(self) -> None:
        self.manager.close()


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""


def read_config(run: str | Path) -> TrainConfig:
    path = Path(run) / CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read the run's config: {error}", str(path)) from None
    return config_from_dict(data, str(path))


def write_json_atomic(path: Path, data) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)
