"""Stable-baselines3 / sb3-contrib models as tensors plus JSON, rebuilt without unpickling.

``encode_model`` splits a model into named tensors (the ``state_dict`` of its policy, every
optimiser's state tensors, extra torch variables such as SAC's ``log_ent_coef``) and a JSON
description: the policy alias (``MlpPolicy``...), its ``policy_kwargs``, the constructor
hyper-parameters, the observation and action spaces, the optimisers' parameter groups and the
timestep counter. ``rebuild_model`` constructs the algorithm class from that description (with
the given env, or a placeholder env that carries only the spaces) and loads the tensors into it.

Classes inside ``policy_kwargs`` (activation functions, optimisers, features extractors) are
stored by name and resolved only among ``torch.nn`` modules, ``torch.optim`` optimisers and
stable-baselines3's features extractors: nothing in the file is unpickled or imported by name.
Values that JSON cannot hold keep their type through small tagged objects: ``{"__tuple__":
[...]}``, ``{"__float__": "inf"}``, ``{"__class__": "torch.nn.Tanh"}``, ``{"__schedule__":
"linear", ...}`` and ``{"__noise__": "normal", ...}``. A hyper-parameter that cannot be written
this way (a custom learning-rate function...) is left out, named in ``defaults_used`` and rebuilt
with the algorithm's default; a ``policy_kwargs`` entry that cannot is refused (the policy would
not be the same).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import random
import re
import warnings
from collections.abc import Iterator
from enum import Enum
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common import torch_layers
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule

from quantrl.agents.factory import algo_class
from quantrl.errors import ConfigError

__all__ = [
    "SPEC_FORMAT",
    "check_model_spec",
    "decode_space",
    "encode_model",
    "encode_space",
    "rebuild_model",
    "spaces_equal",
]

SPEC_FORMAT = "sb3-safetensors-1"
"""Format tag of the ``model`` section of ``meta.json``."""

#: Constructor parameters that are not hyper-parameters of the model (or not JSON-storable).
_NOT_HYPERPARAMS = frozenset(
    {
        "self",
        "policy",
        "env",
        "policy_kwargs",
        "tensorboard_log",
        "verbose",
        "seed",
        "device",
        "_init_setup_model",
        "replay_buffer_class",
        "replay_buffer_kwargs",
        "rollout_buffer_class",
        "rollout_buffer_kwargs",
    }
)
_TAGS = ("__tuple__", "__float__", "__class__", "__schedule__", "__noise__")
_BOX_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8")
_MAX_INT = 1 << 24  # sizes in policy_kwargs (layer widths...) above this are refused
_OPTIM_KEY = re.compile(r"^[0-9]+$")


class _Unstorable(Exception):
    """A value that the tagged JSON cannot represent."""


def _fail(field: str, problem: str) -> ConfigError:
    return ConfigError(f"meta.json field {field!r}: {problem}")


# ---------------------------------------------------------------------- classes by name
@functools.cache
def _class_registry() -> dict[str, type]:
    """The only classes a file may name: torch.nn modules, torch.optim optimisers, SB3 extractors."""
    registry: dict[str, type] = {}
    sources = (
        ("torch.nn", torch.nn, torch.nn.Module),
        ("torch.optim", torch.optim, torch.optim.Optimizer),
        (
            "stable_baselines3.common.torch_layers",
            torch_layers,
            torch_layers.BaseFeaturesExtractor,
        ),
    )
    for prefix, module, base in sources:
        for name in dir(module):
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, base) and not name.startswith("_"):
                registry.setdefault(f"{prefix}.{name}", obj)
    return registry


def _class_name(cls: type) -> str:
    for name, obj in _class_registry().items():
        if obj is cls:
            return name
    raise _Unstorable(f"class {cls.__module__}.{cls.__qualname__}")


# ---------------------------------------------------------------------- tagged JSON values
def _encode_float(x: float) -> Any:
    return x if math.isfinite(x) else {"__float__": repr(float(x))}


def encode_value(value: Any) -> Any:
    """A hyper-parameter or policy_kwargs value as tagged JSON (``_Unstorable`` if impossible)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return encode_value(value.value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _encode_float(float(value))
    if isinstance(value, tuple):
        return {"__tuple__": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key in _TAGS:
                raise _Unstorable(f"dict key {key!r}")
            out[key] = encode_value(item)
        return out
    if isinstance(value, type):
        return {"__class__": _class_name(value)}
    if isinstance(value, FloatSchedule):
        return encode_value(value.value_schedule)
    if isinstance(value, ConstantSchedule):
        return encode_value(value.val)
    if isinstance(value, LinearSchedule):
        return {
            "__schedule__": "linear",
            "start": _encode_float(float(value.start)),
            "end": _encode_float(float(value.end)),
            "end_fraction": _encode_float(float(value.end_fraction)),
        }
    if type(value) is NormalActionNoise:
        mean = np.asarray(value._mu, dtype=np.float64).ravel()
        sigma = np.asarray(value._sigma, dtype=np.float64).ravel()
        return {
            "__noise__": "normal",
            "mean": [_encode_float(float(v)) for v in mean],
            "sigma": [_encode_float(float(v)) for v in sigma],
        }
    raise _Unstorable(type(value).__name__)


def _decode_float(value: Any, field: str) -> float:
    if isinstance(value, dict) and set(value) == {"__float__"}:
        text = value["__float__"]
        if text not in ("inf", "-inf", "nan"):
            raise _fail(field, f"__float__ must be 'inf', '-inf' or 'nan', got {text!r}")
        return float(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _fail(field, f"expected a number, got {type(value).__name__}")


def decode_value(value: Any, field: str) -> Any:
    """Inverse of ``encode_value``; ConfigError naming ``field`` on anything unexpected."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode_value(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise _fail(field, f"unexpected {type(value).__name__}")
    tags = [t for t in _TAGS if t in value]
    if not tags:
        return {k: decode_value(v, f"{field}.{k}") for k, v in value.items()}
    tag = tags[0]
    if tag == "__float__":
        return _decode_float(value, field)
    if tag == "__tuple__":
        items = value["__tuple__"]
        if set(value) != {"__tuple__"} or not isinstance(items, list):
            raise _fail(field, "__tuple__ must be the only key and hold a list")
        return tuple(decode_value(v, f"{field}[{i}]") for i, v in enumerate(items))
    if tag == "__class__":
        name = value["__class__"]
        registry = _class_registry()
        if set(value) != {"__class__"} or not isinstance(name, str) or name not in registry:
            raise _fail(
                field,
                f"unknown class {str(name)[:80]!r} (only torch.nn modules, torch.optim "
                "optimisers and stable-baselines3 features extractors are allowed)",
            )
        return registry[name]
    if tag == "__schedule__":
        if value.get("__schedule__") != "linear" or set(value) != {
            "__schedule__",
            "start",
            "end",
            "end_fraction",
        }:
            raise _fail(field, "a schedule must be {'__schedule__': 'linear', start, end, ...}")
        return LinearSchedule(
            _decode_float(value["start"], f"{field}.start"),
            _decode_float(value["end"], f"{field}.end"),
            _decode_float(value["end_fraction"], f"{field}.end_fraction"),
        )
    if value.get("__noise__") != "normal" or set(value) != {"__noise__", "mean", "sigma"}:
        raise _fail(field, "action noise must be {'__noise__': 'normal', 'mean', 'sigma'}")
    parts = []
    for key in ("mean", "sigma"):
        items = value[key]
        if not isinstance(items, list) or not items:
            raise _fail(f"{field}.{key}", "expected a non-empty list of numbers")
        parts.append(np.array([_decode_float(v, f"{field}.{key}") for v in items]))
    if parts[0].shape != parts[1].shape:
        raise _fail(field, "mean and sigma differ in length")
    return NormalActionNoise(parts[0], parts[1])


def _check_sizes(value: Any, field: str) -> None:
    """Refuse absurd integers in policy_kwargs (a tampered width must not exhaust memory)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not -_MAX_INT <= value <= _MAX_INT:
        raise _fail(field, f"{value} is out of range (|value| <= {_MAX_INT})")
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_sizes(v, f"{field}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_sizes(v, f"{field}.{k}")


# ---------------------------------------------------------------------- spaces
def _bounds(array: np.ndarray) -> Any:
    flat = np.asarray(array, dtype=np.float64).ravel()
    if flat.size and (flat == flat[0]).all():
        return _encode_float(float(flat[0]))
    return [_encode_float(float(v)) for v in flat]


def encode_space(space: Any) -> dict[str, Any]:
    """A Box / Discrete / MultiDiscrete / MultiBinary space as JSON."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": [int(s) for s in space.shape],
            "dtype": str(space.dtype),
            "low": _bounds(space.low),
            "high": _bounds(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": [int(v) for v in np.ravel(space.nvec)],
            "start": [int(v) for v in np.ravel(space.start)],
        }
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": [int(v) for v in np.ravel(space.n)]}
    raise ConfigError(f"cannot store a {type(space).__name__} space (Box, Discrete, Multi*)")


def _int_list(value: Any, field: str, minimum: int = 0) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= _MAX_INT for v in value
    ):
        raise _fail(field, f"expected a list of integers in [{minimum}, {_MAX_INT}]")
    return value


def _bound_array(value: Any, shape: tuple[int, ...], field: str) -> np.ndarray:
    size = int(np.prod(shape))
    if isinstance(value, list):
        if len(value) != size:
            raise _fail(field, f"holds {len(value)} values, the shape {shape} needs {size}")
        return np.array([_decode_float(v, field) for v in value]).reshape(shape)
    return np.full(shape, _decode_float(value, field))


def decode_space(data: Any, field: str) -> gym.Space:
    """The gymnasium space described by ``encode_space`` output (ConfigError naming ``field``)."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise _fail(field, "expected an object with a 'type'")
    kind = data["type"]
    keys = {
        "Box": {"type", "shape", "dtype", "low", "high"},
        "Discrete": {"type", "n", "start"},
        "MultiDiscrete": {"type", "nvec", "start"},
        "MultiBinary": {"type", "n"},
    }
    if kind not in keys:
        raise _fail(f"{field}.type", f"unknown space {kind[:40]!r}")
    if set(data) != keys[kind]:
        raise _fail(field, f"a {kind} space has exactly the keys {sorted(keys[kind])}")
    if kind == "Box":
        shape = tuple(_int_list(data["shape"], f"{field}.shape"))
        if data["dtype"] not in _BOX_DTYPES:
            raise _fail(f"{field}.dtype", f"expected one of {_BOX_DTYPES}")
        if int(np.prod(shape)) > _MAX_INT:
            raise _fail(f"{field}.shape", f"{shape} is too large")
        low = _bound_array(data["low"], shape, f"{field}.low")
        high = _bound_array(data["high"], shape, f"{field}.high")
        if np.isnan(low).any() or np.isnan(high).any() or (low > high).any():
            raise _fail(field, "bounds must be numbers with low <= high")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium warns about precision casts
            return spaces.Box(low=low, high=high, shape=shape, dtype=np.dtype(data["dtype"]))
    if kind == "Discrete":
        n, start = data["n"], data["start"]
        if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= _MAX_INT):
            raise _fail(f"{field}.n", f"expected an integer in [1, {_MAX_INT}]")
        if not (isinstance(start, int) and not isinstance(start, bool)):
            raise _fail(f"{field}.start", "expected an integer")
        return spaces.Discrete(n, start=start)
    if kind == "MultiDiscrete":
        nvec = _int_list(data["nvec"], f"{field}.nvec", 1)
        start = data["start"]
        if not isinstance(start, list) or len(start) != len(nvec) or not nvec:
            raise _fail(f"{field}.start", "expected one integer per entry of nvec")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in start):
            raise _fail(f"{field}.start", "expected integers")
        return spaces.MultiDiscrete(nvec, start=start)
    n_bin = _int_list(data["n"], f"{field}.n", 1)
    if not n_bin:
        raise _fail(f"{field}.n", "expected at least one dimension")
    return spaces.MultiBinary(n_bin if len(n_bin) > 1 else n_bin[0])


def spaces_equal(a: gym.Space, b: gym.Space) -> bool:
    """Whether two spaces have the same type, shape, dtype and bounds."""
    if type(a) is not type(b):
        return False
    if isinstance(a, spaces.Box):
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a.low, b.low)
            and np.array_equal(a.high, b.high)
        )
    return a == b


# ---------------------------------------------------------------------- the model
def _recursive_getattr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _same_kind(value: Any, reference: Any) -> bool:
    """Whether a stored value has the kind of a default (numbers interchangeable)."""
    if reference is None:
        return True
    if isinstance(reference, bool):
        return isinstance(value, bool)
    if isinstance(reference, int | float):  # a number, a schedule, or (n, unit) for train_freq
        kinds = int | float | LinearSchedule | (tuple if isinstance(reference, int) else float)
        return isinstance(value, kinds) and not isinstance(value, bool)
    if isinstance(reference, str):  # "auto" entropy settings also take numbers
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    if isinstance(reference, tuple):
        return isinstance(value, tuple | int) and not isinstance(value, bool)
    return isinstance(value, type(reference))


def _hyperparameter_defaults(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    return {
        name: (None if params[name].default is inspect.Parameter.empty else params[name].default)
        for name in _hyperparameter_names(cls)
    }


def _hyperparameter_names(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in params
        if p.name not in _NOT_HYPERPARAMS
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def _policy_alias(model: Any) -> str:
    for alias, cls in type(model).policy_aliases.items():
        if cls is type(model.policy):
            return alias
    raise ConfigError(
        f"{type(model).__name__} with the custom policy class {type(model.policy).__name__} "
        "cannot be saved without pickle: use one of "
        f"{', '.join(type(model).policy_aliases)}"
    )


def _optimizer_state(
    name: str, state: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for index, values in state["state"].items():
        stored: list[str] = []
        scalars: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{name}/{int(index)}/{key}"] = value.detach().cpu().clone()
                stored.append(str(key))
            else:
                scalars[str(key)] = encode_value(value)
        entries[str(int(index))] = {"tensors": stored, "scalars": scalars}
    groups = [{k: encode_value(v) for k, v in g.items()} for g in state["param_groups"]]
    return {"state": entries, "param_groups": groups}


def encode_model(model: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors of ``model`` (name -> tensor) and its JSON description (``model`` section)."""
    cls = type(model)
    hyper: dict[str, Any] = {}
    skipped: list[str] = []
    for name in _hyperparameter_names(cls):
        if not hasattr(model, name):
            continue
        try:
            hyper[name] = encode_value(getattr(model, name))
        except _Unstorable:
            skipped.append(name)
    if skipped:
        warnings.warn(
            f"{cls.__name__} hyper-parameters {skipped} cannot be stored without pickle: a "
            "reloaded model uses the defaults for them (acting is unaffected)",
            UserWarning,
            stacklevel=3,
        )
    policy_kwargs: dict[str, Any] = {}
    for key, value in (model.policy_kwargs or {}).items():
        try:
            policy_kwargs[str(key)] = encode_value(value)
        except _Unstorable as exc:
            raise ConfigError(
                f"policy_kwargs[{key!r}] ({exc}) cannot be stored without pickle: pass built-in "
                "values, torch.nn / torch.optim classes or stable-baselines3 extractors"
            ) from None
    state_names, variables = model._get_torch_save_params()
    tensors: dict[str, torch.Tensor] = {}
    optimizers: dict[str, Any] = {}
    for name in state_names:
        obj = _recursive_getattr(model, name)
        obj = getattr(obj, "_orig_mod", obj)
        if isinstance(obj, torch.optim.Optimizer):
            optimizers[name] = _optimizer_state(name, obj.state_dict(), tensors)
        else:
            for key, value in obj.state_dict().items():
                tensors[f"module/{name}/{key}"] = value.detach().cpu().clone().contiguous()
    for name in variables:
        tensors[f"var/{name}"] = _recursive_getattr(model, name).detach().cpu().clone()
    spec = {
        "format": SPEC_FORMAT,
        "policy": _policy_alias(model),
        "policy_kwargs": policy_kwargs,
        "hyperparams": hyper,
        "defaults_used": skipped,
        "observation_space": encode_space(model.observation_space),
        "action_space": encode_space(model.action_space),
        "num_timesteps": int(model.num_timesteps),
        "seed": None if model.seed is None else int(model.seed),
        "optimizers": optimizers,
        "variables": list(variables),
    }
    return tensors, spec


def check_model_spec(algo: str, spec: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Decode and check a ``model`` section: (hyperparams, policy_kwargs, obs space, act space).

    Raises ConfigError naming the field for an unknown policy alias, a hyper-parameter the
    algorithm does not take, an unknown class, a malformed space, an oversized layer...
    """
    cls = algo_class(algo)
    if spec.get("policy") not in cls.policy_aliases:
        raise _fail(
            "model.policy",
            f"{str(spec.get('policy'))[:40]!r} is not a {cls.__name__} policy "
            f"({', '.join(cls.policy_aliases)})",
        )
    defaults = _hyperparameter_defaults(cls)
    allowed = set(defaults)
    hyper = {}
    for key, value in spec["hyperparams"].items():
        field = f"model.hyperparams.{key}"
        if key not in allowed:
            raise _fail(field, f"{cls.__name__} takes no such parameter")
        hyper[key] = decode_value(value, field)
        if not _same_kind(hyper[key], defaults[key]):
            raise _fail(field, f"expected a value like {defaults[key]!r}, got {value!r:.80}")
    for key in spec["defaults_used"]:
        if key not in allowed:
            raise _fail("model.defaults_used", f"{cls.__name__} takes no parameter {key!r}")
    policy_kwargs = {}
    for key, value in spec["policy_kwargs"].items():
        decoded = decode_value(value, f"model.policy_kwargs.{key}")
        _check_sizes(decoded, f"model.policy_kwargs.{key}")
        policy_kwargs[key] = decoded
    obs = decode_space(spec["observation_space"], "model.observation_space")
    act = decode_space(spec["action_space"], "model.action_space")
    for name, section in spec["optimizers"].items():
        field = f"model.optimizers.{name}"
        for index, entry in section["state"].items():
            if not _OPTIM_KEY.match(index):
                raise _fail(f"{field}.state", f"keys are parameter indices, got {index[:20]!r}")
            for key, value in entry["scalars"].items():
                decode_value(value, f"{field}.state.{index}.scalars.{key}")
        for i, group in enumerate(section["param_groups"]):
            for key, value in group.items():
                decode_value(value, f"{field}.param_groups[{i}].{key}")
    return hyper, policy_kwargs, obs, act


class _SpacesOnlyEnv(gym.Env):
    """A placeholder env with the model's spaces: building a model needs one, acting does not."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        """Refuse: this model was loaded without an env."""
        raise ConfigError(
            "this model was loaded without an env: pass env= to quantrl.agents.load or call "
            "model.set_env(env) before training it further"
        )

    def step(self, action: Any) -> Any:
        """Refuse: this model was loaded without an env."""
        return self.reset()


@contextlib.contextmanager
def _rng_untouched() -> Iterator[None]:
    """Keep the global Python, NumPy and torch generators as they were (building draws weights)."""
    py, npy = random.getstate(), np.random.get_state()  # noqa: NPY002 - restored as it was
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)  # noqa: NPY002


def _load_optimizer(
    optimizer: torch.optim.Optimizer,
    name: str,
    section: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    used: set[str],
) -> None:
    template = optimizer.state_dict()["param_groups"]
    groups = section["param_groups"]
    if len(groups) != len(template):
        raise _fail(f"model.optimizers.{name}.param_groups", "the number of groups differs")
    restored_groups = []
    for i, (group, ref) in enumerate(zip(groups, template, strict=True)):
        if set(group) != set(ref):
            raise _fail(
                f"model.optimizers.{name}.param_groups[{i}]",
                f"keys {sorted(group)} differ from the optimiser's {sorted(ref)}",
            )
        field = f"model.optimizers.{name}.param_groups[{i}]"
        new = {k: decode_value(v, f"{field}.{k}") for k, v in group.items()}
        for key, value in new.items():
            if isinstance(ref[key], tuple) and isinstance(value, list):
                new[key] = value = tuple(value)
            if not _same_kind(value, ref[key]) and not isinstance(ref[key], list):
                raise _fail(f"{field}.{key}", f"expected a value like {ref[key]!r}")
        if new["params"] != ref["params"]:
            raise _fail(f"{field}.params", "parameter indices differ from the optimiser's")
        restored_groups.append(new)
    state: dict[int, dict[str, Any]] = {}
    for index, entry in section["state"].items():
        values: dict[str, Any] = {}
        for key in entry["tensors"]:
            tensor_name = f"optim/{name}/{index}/{key}"
            if tensor_name not in tensors:
                raise ConfigError(f"the weights file lacks the optimiser tensor {tensor_name!r}")
            values[key] = tensors[tensor_name]
            used.add(tensor_name)
        for key, value in entry["scalars"].items():
            values[key] = decode_value(value, f"model.optimizers.{name}.state.{index}.{key}")
        state[int(index)] = values
    optimizer.load_state_dict({"state": state, "param_groups": restored_groups})


def _load_module(
    module: torch.nn.Module, name: str, tensors: dict[str, torch.Tensor], used: set[str]
) -> None:
    expected = module.state_dict()
    prefix = f"module/{name}/"
    given = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(given))
    extra = sorted(set(given) - set(expected))
    if missing or extra:
        raise ConfigError(
            f"the weights do not fit the {name} described in meta.json: missing "
            f"{missing[:3]}, unexpected {extra[:3]}"
        )
    for key, value in given.items():
        ref = expected[key]
        if tuple(value.shape) != tuple(ref.shape) or value.dtype != ref.dtype:
            raise ConfigError(
                f"the weights do not fit the {name} described in meta.json: {key} is "
                f"{value.dtype} {tuple(value.shape)}, the policy needs {ref.dtype} "
                f"{tuple(ref.shape)}"
            )
    module.load_state_dict(given, strict=True)
    used.update(prefix + k for k in given)


def rebuild_model(
    algo: str, spec: dict[str, Any], tensors: dict[str, torch.Tensor], env: Any = None
) -> Any:
    """Construct ``algo`` from a ``model`` section and load ``tensors`` into it (no pickle).

    With ``env`` (whose spaces must equal the stored ones) the model is built on it and can be
    trained further; without, on a placeholder env that only carries the spaces. The global
    random generators are left as they were.
    """
    hyper, policy_kwargs, obs, act = check_model_spec(algo, spec)
    if env is not None:
        if not spaces_equal(env.observation_space, obs) or not spaces_equal(env.action_space, act):
            raise ConfigError(
                "the env's spaces differ from the model's (type, shape, dtype or bounds): "
                f"observation {env.observation_space} vs {obs}, action {env.action_space} vs {act}"
            )
    else:
        env = _SpacesOnlyEnv(obs, act)
    cls = algo_class(algo)
    try:
        with _rng_untouched(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rollout-size advice etc. concern training setups
            model = cls(
                spec["policy"],
                env,
                policy_kwargs=policy_kwargs,
                device="cpu",
                verbose=0,
                seed=None,
                **hyper,
            )
    except MemoryError:
        raise ConfigError(
            f"cannot rebuild the {cls.__name__} model described in meta.json: it needs more "
            "memory than there is (tampered sizes?)"
        ) from None
    except Exception as exc:  # the constructor is what validates the stored hyper-parameters
        raise ConfigError(
            f"cannot rebuild the {cls.__name__} model described in meta.json: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    state_names, variables = model._get_torch_save_params()
    if sorted(spec["optimizers"]) != sorted(n for n in state_names if "optimizer" in n):
        raise _fail(
            "model.optimizers",
            f"names {sorted(spec['optimizers'])} do not match the model's optimisers",
        )
    if sorted(spec["variables"]) != sorted(variables):
        raise _fail("model.variables", f"expected {sorted(variables)}")
    used: set[str] = set()
    try:
        for name in state_names:
            obj = _recursive_getattr(model, name)
            if isinstance(obj, torch.optim.Optimizer):
                _load_optimizer(obj, name, spec["optimizers"][name], tensors, used)
            else:
                _load_module(obj, name, tensors, used)
        for name in variables:
            key = f"var/{name}"
            target = _recursive_getattr(model, name)
            if key not in tensors or tensors[key].shape != target.shape:
                raise ConfigError(f"the weights file lacks or misshapes the variable {name!r}")
            with torch.no_grad():
                target.copy_(tensors[key])
            used.add(key)
    except ConfigError:
        raise
    except Exception as exc:  # torch's load_state_dict validates the optimiser state
        raise ConfigError(
            f"the weights do not fit the model described in meta.json: "
            f"{type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    leftover = sorted(set(tensors) - used)
    if leftover:
        raise ConfigError(f"the weights file holds unexpected tensors {leftover[:3]}")
    model.num_timesteps = int(spec["num_timesteps"])
    model.seed = spec["seed"]
    return model
