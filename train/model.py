"""A trained network ready to use: load it from a run or from an exported model directory.

An exported model (what ships under checkpoints/) is a directory with
`model.json` (spec, network sizes, enemy slots, the training config, and the
evaluation if one was run) and `params.msgpack` (flax serialization: one small
file, where an orbax directory is a tree of tiny files). `load_model` also accepts a
run directory (its newest checkpoint) or one checkpoint step inside a run.

Anything else is refused as "not a Portunus model: <what is wrong>": model.json is
checked field by field and the parameters' tree against the network its sizes
describe, so a damaged directory never ends in a KeyError or a shape error inside
JAX. A model is recorded (in exports, evaluations, the service's health) by
`identity()`: its directory name, step and the SHA-256 of its parameters, never
a path of the machine that made it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import serialization

from portunus.errors import InputError
from portunus.inputs import read_text
from search.types import VALUES
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

    @functools.cached_property
    def params_sha256(self) -> str:
        """SHA-256 of the parameters as flax msgpack: for an exported model, of its params.msgpack file."""
        return hashlib.sha256(serialization.to_bytes(jax.device_get(self.params))).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What names this model in files others read: no machine paths."""
        folder = self.path.resolve()
        if folder.parent.name == STEPS_DIR and folder.name.isdigit():
            folder = folder.parent.parent
        return {"name": folder.name, "step": self.info.get("step"), "params_sha256": self.params_sha256}

    @property
    def apply(self):
        return self.module.apply

    @property
    def slots(self) -> int:
        return int(self.info["slots"])

    def search_settings(self, rollout_steps: int | None = None, value: str | None = None) -> dict[str, Any]:
        """The leaf values this model is searched with (SearchConfig fields): those it was
        trained with, then model.json's "search" (how an exported model is played, set after
        measuring it), then `rollout_steps` and `value` if given."""
        trained = self.info.get("config", {})
        settings = {"value": trained.get("search_value", "network"),
                    "rollout_steps": int(trained.get("rollout_steps", 8))}
        settings.update(self.info.get("search", {}))
        if rollout_steps is not None:
            settings["rollout_steps"] = int(rollout_steps)
        if value is not None:
            settings["value"] = value
        return settings

    def search_config(self, simulations: int = 64, rollout_steps: int | None = None, value: str | None = None):
        from search.types import SearchConfig

        return SearchConfig(num_simulations=simulations, **self.search_settings(rollout_steps, value)).validate()

    def check_env(self, env) -> None:
        """The env must have the spec, actions and observation size the network was trained on."""
        if env.spec.name != self.info["spec"]:
            raise InputError(f"model {self.path} plays {self.info['spec']}, not {env.spec.name}")
        if env.observation_size != self.info["observation_size"]:
            raise InputError(f"model {self.path} reads {self.info['observation_size']} observation values "
                             f"({self.slots} enemy slots); this fight gives {env.observation_size}")
        if env.num_actions != self.info["num_actions"]:
            raise InputError(f"model {self.path} chooses among {self.info['num_actions']} actions; this "
                             f"character and fight have {env.num_actions}")


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


def _not_a_model(path: Path, what: str) -> InputError:
    return InputError(f"{path}: not a Portunus model: {what}")


# model.json fields a model needs, with their ranges (optional ones are checked when present).
INFO_INTEGERS = {"width": (1, 65536), "blocks": (0, 1024), "slots": (1, 64)}
INFO_OPTIONAL_INTEGERS = {"num_actions": (1, 4096), "observation_size": (1, 1 << 20), "step": (0, 1 << 40)}


# model.json's optional "search": how an exported model is searched (overrides its training config);
# each field's check and the rule an error names.
SEARCH_FIELDS = {
    "value": (lambda v: v in VALUES, " or ".join(f"'{v}'" for v in VALUES)),
    "rollout_steps": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000,
                      "a whole number 0..1000"),
    "max_num_considered_actions": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096,
                                   "a whole number 1..4096"),
}


def leaf_settings(model: "Model | None", rollout_steps: int | None = None) -> dict[str, Any]:
    """SearchConfig leaf fields for a command's --rollout-steps: the model's own settings
    (`Model.search_settings`), or without a model SearchConfig's defaults unless given."""
    if model is not None:
        return model.search_settings(rollout_steps)
    return {} if rollout_steps is None else {"rollout_steps": int(rollout_steps)}


def _check_info(info: Any, path: Path) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise _not_a_model(path, f"{MODEL_FILE} holds a JSON {type(info).__name__}, not an object")
    if not isinstance(info.get("spec"), str):
        raise _not_a_model(path, f"{MODEL_FILE} has no 'spec' name")
    for key, (low, high) in {**INFO_INTEGERS, **INFO_OPTIONAL_INTEGERS}.items():
        if key not in info and key in INFO_OPTIONAL_INTEGERS:
            continue
        value = info.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _not_a_model(path, f"{MODEL_FILE} '{key}' must be a whole number {low}..{high}, got {value!r}")
    if not isinstance(info.get("config", {}), dict):
        raise _not_a_model(path, f"{MODEL_FILE} 'config' must be an object")
    search = info.get("search", {})
    if not isinstance(search, dict) or set(search) - set(SEARCH_FIELDS):
        raise _not_a_model(path, f"{MODEL_FILE} 'search' must be an object with at most "
                                 f"{', '.join(SEARCH_FIELDS)}, got {search!r}"[:300])
    for key, (check, rule) in SEARCH_FIELDS.items():
        if key in search and not check(search[key]):
            raise _not_a_model(path, f"{MODEL_FILE} 'search' '{key}' must be {rule}, got {search[key]!r}"[:300])
    return info


def _kernel(params: Any, layer: str) -> Any:
    """params/<layer>/kernel if it is a 2-D array, else None."""
    try:
        kernel = params["params"][layer]["kernel"]
    except (KeyError, TypeError, IndexError):
        return None
    return kernel if getattr(kernel, "ndim", None) == 2 else None


def _check_params(params: Any, info: dict[str, Any], path: Path) -> PolicyValueNet:
    """The network `info` describes, if `params` are exactly its parameters (names and shapes)."""
    embed, policy = _kernel(params, "embed"), _kernel(params, "policy")
    if embed is None or policy is None:
        raise _not_a_model(path, "the parameters are not a policy/value network (no params/embed/kernel "
                                 "and params/policy/kernel)")
    module = PolicyValueNet(num_actions=int(policy.shape[1]), width=info["width"], blocks=info["blocks"])
    expected = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros(int(embed.shape[0])))
    want = {jax.tree_util.keystr(k): tuple(v.shape) for k, v in jax.tree_util.tree_leaves_with_path(expected)}
    have = {jax.tree_util.keystr(k): tuple(getattr(v, "shape", ())) for k, v in
            jax.tree_util.tree_leaves_with_path(params)}
    for name in sorted(set(want) | set(have)):
        if want.get(name) != have.get(name):
            problem = (f"{name} is missing" if name not in have else f"{name} is not part of the network"
                       if name not in want else f"{name} has shape {list(have[name])}, expected {list(want[name])}")
            raise _not_a_model(path, f"the parameters do not match width {info['width']} and {info['blocks']} "
                                     f"blocks in {MODEL_FILE}: {problem}")
    for key, size in (("num_actions", module.num_actions), ("observation_size", int(embed.shape[0]))):
        if info.get(key, size) != size:
            raise _not_a_model(path, f"{MODEL_FILE} says {key} {info[key]}, the parameters have {size}")
    return module


def load_model(path: str | Path | None = None) -> Model:
    """The shipped default model, an exported model, a run (newest step) or runs/steps/N."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if (path / MODEL_FILE).exists():
        try:
            text = read_text(path / MODEL_FILE, MODEL_FILE)
        except InputError as error:
            raise _not_a_model(path, error.message) from None
        try:
            info = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"not a Portunus model: not valid JSON: {error.msg}", str(path / MODEL_FILE),
                             error.lineno) from None
        info = _check_info(info, path)
        try:
            params = serialization.msgpack_restore((path / PARAMS_FILE).read_bytes())
        except OSError as error:
            raise _not_a_model(path, f"cannot read {PARAMS_FILE}: {error.strerror or error}") from None
        except Exception as error:  # msgpack raises many kinds for damaged bytes
            raise _not_a_model(path, f"{PARAMS_FILE} is not flax msgpack ({type(error).__name__})") from None
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
    module = _check_params(params, info, path)
    info.setdefault("num_actions", module.num_actions)
    info.setdefault("observation_size", int(_kernel(params, "embed").shape[0]))
    return Model(module=module, params=params, info=info, path=path)


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
