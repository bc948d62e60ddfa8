"""A trained network ready to use: load it from a run or from an exported model directory.

An exported model (what ships under checkpoints/) is a directory with
`model.json` (spec, network sizes, enemy slots, the training config, and the
evaluation if one was run) and `params.msgpack` (flax serialization: one small
file, where an orbax directory is a tree of tiny files). `load_model` also accepts a
run directory (its newest checkpoint) or one checkpoint step inside a run.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import serialization

from portunus.errors import InputError
from train.checkpoints import CONFIG_FILE, STEPS_DIR, read_config, write_json_atomic
from train.network import PolicyValueNet

MODEL_FILE = "model.json"
PARAMS_FILE = "params.msgpack"
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "checkpoints" / "retribution_paladin"


@dataclasses.dataclass(frozen=True)
class Model:
    module: PolicyValueNet
    params: Any
    info: dict[str, Any]
    path: Path

    @property
    def apply(self):
        return self.module.apply

    @property
    def slots(self) -> int:
        return int(self.info["slots"])

    def search_settings(self) -> dict[str, Any]:
        """The leaf values this model was trained with (SearchConfig fields)."""
        trained = self.info.get("config", {})
        return {"value": trained.get("search_value", "network"), "rollout_steps": int(trained.get("rollout_steps", 8))}

    def search_config(self, simulations: int = 64):
        from search.types import SearchConfig

        return SearchConfig(num_simulations=simulations, **self.search_settings()).validate()

    def check_env(self, env) -> None:
        """The env must have the spec, actions and observation size the network was trained on."""
        if env.spec.name != self.info["spec"]:
            raise InputError(f"model {self.path} plays {self.info['spec']}, not {env.spec.name}")
        if env.observation_size != self.info["observation_size"]:
            raise InputError(f"model {self.path} reads {self.info['observation_size']} observation values "
                             f"({self.slots} enemy slots); this fight gives {env.observation_size}")


def model_info(config, env) -> dict[str, Any]:
    return {"spec": env.spec.name, "width": config.width, "blocks": config.blocks, "slots": config.slots,
            "num_actions": env.num_actions, "observation_size": env.observation_size, "config": config.to_dict()}


def _restore_params(directory: Path):
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.restore(directory.absolute())
    except Exception as error:  # damaged or missing files
        raise InputError(f"cannot read network parameters from {directory}: {type(error).__name__}: "
                         f"{str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}") from None


def resolve_model(choice: str | Path | None) -> "Model | None":
    """A command's --checkpoint: None = the shipped model if there is one, "none" = no network."""
    if choice is not None and str(choice).lower() == "none":
        return None
    if choice is None and not (DEFAULT_MODEL / MODEL_FILE).exists():
        return None
    return load_model(choice)


def load_model(path: str | Path | None = None) -> Model:
    """The shipped default model, an exported model, a run (newest step) or runs/steps/N."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if (path / MODEL_FILE).exists():
        try:
            info = json.loads((path / MODEL_FILE).read_text())
        except json.JSONDecodeError as error:
            raise InputError(f"not valid JSON: {error.msg}", str(path / MODEL_FILE), error.lineno) from None
        try:
            params = serialization.msgpack_restore((path / PARAMS_FILE).read_bytes())
        except (OSError, ValueError, TypeError) as error:
            raise InputError(f"cannot read network parameters: {error}", str(path / PARAMS_FILE)) from None
    else:
        run, step_dir = (path, None)
        if (path.parent.name == STEPS_DIR) and path.name.isdigit():
            run, step_dir = path.parent.parent, path
        if not (run / CONFIG_FILE).exists():
            raise InputError(f"{path} is neither a model directory ({MODEL_FILE}) nor a training run "
                             f"({CONFIG_FILE})")
        if step_dir is None:
            steps = sorted(int(p.name) for p in (run / STEPS_DIR).glob("*") if p.name.isdigit()) \
                if (run / STEPS_DIR).exists() else []
            if not steps:
                raise InputError(f"training run {run} has no checkpoint yet")
            step_dir = run / STEPS_DIR / str(steps[-1])
        config = read_config(run)
        params = _restore_params(step_dir / "params")
        info = {"spec": config.spec, "width": config.width, "blocks": config.blocks, "slots": config.slots,
                "config": config.to_dict(), "step": int(step_dir.name)}
    module = PolicyValueNet(num_actions=_num_actions(params), width=int(info["width"]), blocks=int(info["blocks"]))
    info.setdefault("num_actions", module.num_actions)
    info.setdefault("observation_size", _observation_size(params))
    return Model(module=module, params=params, info=info, path=path)


def _num_actions(params) -> int:
    return int(params["params"]["policy"]["kernel"].shape[1])


def _observation_size(params) -> int:
    return int(params["params"]["embed"]["kernel"].shape[0])


def export_model(path: str | Path, params, info: dict[str, Any]) -> Path:
    """Write an exported model directory (refuses to overwrite one)."""
    path = Path(path)
    if (path / MODEL_FILE).exists():
        raise InputError(f"{path} already holds a model; choose another directory or remove it first")
    path.mkdir(parents=True, exist_ok=True)
    temporary = path / (PARAMS_FILE + ".tmp")
    temporary.write_bytes(serialization.to_bytes(jax.device_get(params)))
    temporary.replace(path / PARAMS_FILE)
    write_json_atomic(path / MODEL_FILE, info)
    return path
