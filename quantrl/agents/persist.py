"""Save / load trained agents in a run folder (``model.safetensors`` + ``meta.json``), safely.

A run folder holds the policy's tensors in ``model.safetensors`` (the policy ``state_dict``, the
optimisers' state and extra torch variables: ``quantrl.agents.modelfile``) and ``meta.json``:
the algorithm, the env id and its constructor kwargs (a config record such as
``costs=Costs(...)`` as the dict of its fields, which the envs accept in its place), the market,
the split dates, the asset universe (symbols), the panel shape, a data hash (sha256 of the close
array bytes, the dates and the symbols) and a ``model`` section describing how to rebuild the
model (policy alias, ``policy_kwargs``, hyper-parameters, spaces, optimiser parameter groups, the
weights' sha256). Reading never unpickles: ``meta.json`` is parsed as data and every field is checked (a tampered
or truncated file gives a ConfigError naming the field), the weights are read by safetensors.

Loading checks the data guards too: a model is never evaluated on a different asset universe or
shape (``DataError``), nor, by default, on changed data.

Run folders written before the weights were stored as safetensors hold a stable-baselines3
``model.zip``, which stable-baselines3 restores with (cloud)pickle: a crafted zip executes code.
``load`` refuses it unless called with ``trust=True`` (``quantrl eval --trust``), which runs that
code; ``upgrade_run(path, trust=True)`` converts such a folder once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import safetensors.torch
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from safetensors import SafetensorError

from quantrl.agents.factory import ALGOS, algo_class, algo_name
from quantrl.agents.modelfile import check_model_spec, encode_model, rebuild_model
from quantrl.data.cache import atomic_write_bytes
from quantrl.data.panel import Panel
from quantrl.envs.core import resolve_panel
from quantrl.envs.registration import ENV_IDS
from quantrl.errors import ConfigError, DataError, QuantRLError

META_VERSION = 2
MODEL_FILE = "model.safetensors"
LEGACY_MODEL_FILE = "model.zip"
META_FILE = "meta.json"
MAX_META_BYTES = 64 << 20
"""A larger ``meta.json`` is refused without being parsed."""

UNTRUSTED_ZIP = (
    "{file} is a stable-baselines3 archive (a run folder saved by an older quantrl, or a model "
    "from elsewhere): loading it unpickles Python objects, which can execute arbitrary code. "
    "Only if you trust its origin, load it with load(path, trust=True) (quantrl eval --trust) "
    "and convert it with upgrade_run(path, trust=True); otherwise retrain"
)


def data_hash(panel: Panel) -> str:
    """sha256 of the close array bytes, the dates and the symbols of a panel."""
    h = hashlib.sha256()
    close = np.ascontiguousarray(panel["close"], dtype=np.float64)
    h.update(str(close.shape).encode())
    h.update(close.tobytes())
    h.update(np.ascontiguousarray(panel.dates.astype("datetime64[ns]").view(np.int64)).tobytes())
    h.update("\x1f".join(panel.symbols).encode())
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data; an env config record (a dataclass) becomes the dict of its fields.

    The envs take such a dict wherever they take the record (``costs={"fees": 0.002}``), so
    the saved ``env_kwargs`` rebuild the same env.
    """
    if isinstance(value, Panel):
        raise ConfigError("env_kwargs may not hold a Panel: pass it as market=")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.datetime64):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


_Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_Shape = Annotated[list[Annotated[int, Field(ge=0, le=1 << 24)]], Field(min_length=1)]
_Name = Annotated[str, Field(min_length=1, max_length=200)]


class _OptimizerEntry(_Strict):
    tensors: list[_Name]
    scalars: dict[str, JsonValue]


class _OptimizerSection(_Strict):
    state: dict[str, _OptimizerEntry]
    param_groups: list[dict[str, JsonValue]]


class _ModelSection(_Strict):
    format: Literal["sb3-safetensors-1"]
    weights_sha256: _Sha256
    policy: _Name
    policy_kwargs: dict[str, JsonValue]
    hyperparams: dict[str, JsonValue]
    defaults_used: list[_Name]
    observation_space: dict[str, JsonValue]
    action_space: dict[str, JsonValue]
    num_timesteps: Annotated[int, Field(ge=0)]
    seed: int | None
    optimizers: dict[str, _OptimizerSection]
    variables: list[_Name]


class _MetaSchema(_Strict):
    version: Literal[1, 2]
    algo: _Name
    env_id: _Name
    env_kwargs: dict[str, JsonValue]
    market: _Name
    split_dates: tuple[_Name, _Name] | None
    symbols: Annotated[list[_Name], Field(min_length=1)]
    n_dates: Annotated[int, Field(ge=1)]
    data_hash: _Sha256
    obs_shape: _Shape
    action_shape: _Shape
    extra: dict[str, JsonValue]
    model: _ModelSection | None = None


def _field_error(name: str, problem: str) -> ConfigError:
    return ConfigError(f"meta.json field {name!r}: {problem}")


def _env_parameters(env_id: str) -> set[str] | None:
    """Keyword arguments an env class takes (None when it takes any)."""
    module, cls_name = ENV_IDS[env_id][0].split(":")
    env_cls = getattr(importlib.import_module(module), cls_name)
    if hasattr(env_cls, "keywords"):
        return set(env_cls.keywords()) - {"market", "split_dates"}
    names: set[str] = set()
    for klass in env_cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return names - {"self", "market", "split_dates"}
    return None


def _check_meta(d: _MetaSchema) -> None:
    """Checks beyond types: known names, consistent shapes, a decodable model section."""
    if d.algo not in ALGOS:
        raise _field_error("algo", f"unknown algorithm {d.algo[:40]!r} ({', '.join(ALGOS)})")
    if d.env_id not in ENV_IDS:
        raise _field_error("env_id", f"unknown env id {d.env_id[:60]!r} ({', '.join(ENV_IDS)})")
    allowed = _env_parameters(d.env_id)
    for key in d.env_kwargs:
        if allowed is not None and key not in allowed:
            raise _field_error(f"env_kwargs.{key[:40]}", f"{d.env_id} takes no such argument")
    for i, text in enumerate(d.split_dates or ()):
        try:
            np.datetime64(text)
        except ValueError:
            raise _field_error(f"split_dates[{i}]", f"{text[:40]!r} is not a date") from None
    if len(set(d.symbols)) != len(d.symbols):
        raise _field_error("symbols", "lists a symbol twice")
    if (d.version == 2) != (d.model is not None):
        raise _field_error("model", "version 2 has a model section, version 1 none")
    if d.model is not None:
        _, _, obs, act = check_model_spec(d.algo, d.model.model_dump())
        if tuple(d.obs_shape) != _space_shape(obs):
            raise _field_error("obs_shape", f"{d.obs_shape} differs from the model's {obs}")
        if tuple(d.action_shape) != _space_shape(act):
            raise _field_error("action_shape", f"{d.action_shape} differs from the model's {act}")


@dataclass(frozen=True)
class RunMeta:
    """Contents of ``meta.json``: how to rebuild the env and the model, which data it knows."""

    algo: str
    env_id: str
    env_kwargs: dict[str, Any]
    market: str
    split_dates: tuple[str, str] | None
    symbols: tuple[str, ...]
    n_dates: int
    data_hash: str
    obs_shape: tuple[int, ...]
    action_shape: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    """How to rebuild the model from ``model.safetensors`` (None: a legacy ``model.zip`` run)."""

    def to_json(self) -> str:
        """The metadata as indented JSON."""
        d = {
            "version": META_VERSION if self.model is not None else 1,
            "algo": self.algo,
            "env_id": self.env_id,
            "env_kwargs": _jsonable(self.env_kwargs),
            "market": self.market,
            "split_dates": list(self.split_dates) if self.split_dates else None,
            "symbols": list(self.symbols),
            "n_dates": self.n_dates,
            "data_hash": self.data_hash,
            "obs_shape": list(self.obs_shape),
            "action_shape": list(self.action_shape),
            "extra": _jsonable(self.extra),
        }
        if self.model is not None:
            d["model"] = self.model
        return json.dumps(d, indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunMeta:
        """Parse and check ``meta.json`` text: ConfigError naming the first bad field."""
        try:
            d = _MetaSchema.model_validate_json(text)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            first = errors[0]
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            if first["type"] == "json_invalid":
                raise ConfigError(
                    f"meta.json is not valid JSON (truncated or edited?): {first['msg'][:200]}"
                ) from None
            where = ".".join(str(p) for p in first["loc"])[:120]
            if not where:
                raise ConfigError(f"meta.json: {first['msg'][:200]}") from None
            raise _field_error(where, f"{first['msg'][:200]}{more}") from None
        _check_meta(d)
        return cls(
            algo=d.algo,
            env_id=d.env_id,
            env_kwargs=dict(d.env_kwargs),
            market=d.market,
            split_dates=tuple(d.split_dates) if d.split_dates else None,
            symbols=tuple(d.symbols),
            n_dates=d.n_dates,
            data_hash=d.data_hash,
            obs_shape=tuple(d.obs_shape),
            action_shape=tuple(d.action_shape),
            extra=dict(d.extra),
            model=d.model.model_dump() if d.model is not None else None,
        )


@dataclass
class Run:
    """A loaded run: the model, its metadata and the folder."""

    model: Any
    meta: RunMeta
    path: Path


def market_panel(market: str | Panel, symbols: Any = None) -> Panel:
    """The panel an env is built from: a bundled market by name (or the Panel), symbols selected."""

    panel = resolve_panel(market)
    if symbols is not None:
        panel = panel.select(list(symbols))
    return panel


def _space_shape(space: Any) -> tuple[int, ...]:
    shape = getattr(space, "shape", None)
    return tuple(int(s) for s in shape) if shape else (int(getattr(space, "n", 0)),)


def save(
    model: Any,
    path: str | Path,
    *,
    env_kwargs: dict[str, Any],
    market: str | Panel,
    split_dates: tuple[Any, Any] | None = None,
    env_id: str = "quantrl/Portfolio-v0",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``path/model.safetensors`` and ``path/meta.json`` atomically; returns the run folder.

    The weights, optimiser state and timestep counter are stored, so a loaded model acts exactly
    as this one and can be trained further (``learn(..., reset_num_timesteps=False)``); replay
    buffers, env state and random-generator states are not, so continued training is not
    bitwise the run that would have continued. A legacy ``model.zip`` in the folder is removed.
    """
    folder = Path(path)
    kwargs = {k: v for k, v in env_kwargs.items() if k not in ("market", "split_dates")}
    panel = market_panel(market, kwargs.get("symbols"))
    name = market if isinstance(market, str) else (market.name or "panel")
    if split_dates is not None:
        split_dates = (str(split_dates[0])[:10], str(split_dates[1])[:10])
    tensors, spec = encode_model(model)
    blob = safetensors.torch.save(tensors)
    spec["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    meta = RunMeta(
        algo=algo_name(type(model).__name__),
        env_id=env_id,
        env_kwargs=_jsonable(kwargs),
        market=str(name),
        split_dates=split_dates,
        symbols=tuple(panel.symbols),
        n_dates=panel.n_dates,
        data_hash=data_hash(panel),
        obs_shape=_space_shape(model.observation_space),
        action_shape=_space_shape(model.action_space),
        extra=dict(extra or {}),
        model=spec,
    )
    _write(folder, meta, blob)
    return folder


def _write(folder: Path, meta: RunMeta, blob: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / MODEL_FILE, blob)
    atomic_write_bytes(folder / META_FILE, meta.to_json().encode())
    (folder / LEGACY_MODEL_FILE).unlink(missing_ok=True)


def read_meta(path: str | Path) -> RunMeta:
    """The checked ``meta.json`` of a run folder (ConfigError if missing, damaged or invalid)."""
    file = Path(path) / META_FILE
    if not file.is_file():
        raise ConfigError(f"{path} is not a run folder: {META_FILE} is missing")
    try:
        size = file.stat().st_size
        if size > MAX_META_BYTES:
            raise ConfigError(f"{file} is {size} bytes: too large for a run's metadata")
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from exc
    return RunMeta.from_json(data)


def check_panel(meta: RunMeta, panel: Panel, *, check_hash: bool = True) -> None:
    """Raise DataError if ``panel`` is not the asset universe / data the model was trained on."""
    if tuple(panel.symbols) != meta.symbols:
        missing = [s for s in meta.symbols if s not in panel.symbols]
        added = [s for s in panel.symbols if s not in meta.symbols]
        detail = (
            f"missing {missing[:5]}, new {added[:5]}" if missing or added else "a different order"
        )
        raise DataError(
            f"the model was trained on {len(meta.symbols)} symbols and the panel has "
            f"{len(panel.symbols)} ({detail}): refusing to evaluate on another asset universe",
            rule="asset universe",
            symbol=(missing or added or [None])[0],
        )
    if check_hash and (panel.n_dates != meta.n_dates or data_hash(panel) != meta.data_hash):
        raise DataError(
            f"the market data differ from the data the model was trained on ({panel.n_dates} "
            f"dates vs {meta.n_dates}, hash {data_hash(panel)[:12]} vs {meta.data_hash[:12]}); "
            "pass check_hash=False to evaluate anyway",
            rule="data hash",
        )


def check_env(meta: RunMeta, env: Any) -> None:
    """Raise DataError/ConfigError if ``env`` differs in universe or shape from the model's."""
    base = getattr(env, "unwrapped", env)
    symbols = getattr(base, "symbols", None)
    if symbols is None and getattr(base, "symbol", None) is not None:
        symbols = (base.symbol,)
    if symbols is not None and tuple(symbols) != meta.symbols:
        raise DataError(
            f"the env trades {len(symbols)} symbols {tuple(symbols)[:5]}..., the model was "
            f"trained on {len(meta.symbols)} {meta.symbols[:5]}...: refusing another asset "
            "universe",
            rule="asset universe",
        )
    obs = _space_shape(env.observation_space)
    act = _space_shape(env.action_space)
    if obs != meta.obs_shape or act != meta.action_shape:
        raise ConfigError(
            f"env spaces differ from the model's: observation {obs} vs {meta.obs_shape}, "
            f"action {act} vs {meta.action_shape}"
        )


def _read_weights(folder: Path, sha256: str) -> dict[str, Any]:
    file = folder / MODEL_FILE
    if not file.is_file():
        raise ConfigError(f"{folder} has no {MODEL_FILE}")
    try:
        blob = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from exc
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ConfigError(
            f"{file} does not match the sha256 recorded in {META_FILE} (damaged, replaced or "
            "written partially): save the model again or retrain"
        )
    try:
        return safetensors.torch.load(blob)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{file} is not a readable safetensors file: {exc}") from None


def _load_zip(folder: Path, meta: RunMeta, env: Any, trust: bool) -> Any:
    file = folder / LEGACY_MODEL_FILE
    if not file.is_file():
        raise ConfigError(f"{folder} has no {MODEL_FILE}")
    if not trust:
        raise ConfigError(UNTRUSTED_ZIP.format(file=file))
    if not zipfile.is_zipfile(file):
        raise ConfigError(f"{file} is not a valid model archive (corrupted?)")
    try:
        return algo_class(meta.algo).load(str(file), env=env, device="cpu")
    except Exception as exc:  # a trusted archive that stable-baselines3 cannot read
        raise ConfigError(f"cannot load {file}: {str(exc)[:300]}") from exc


def load(path: str | Path, env: Any = None, *, trust: bool = False) -> Run:
    """Load a run folder; with ``env`` its universe and spaces are checked against the model.

    Reads ``model.safetensors`` and ``meta.json`` without unpickling anything. A legacy folder
    that holds a stable-baselines3 ``model.zip`` instead is refused unless ``trust=True``:
    stable-baselines3 unpickles parts of the zip, so ``trust=True`` EXECUTES any code a crafted
    archive carries. Use it only for files you made or trust, and convert them once with
    ``upgrade_run``.
    """
    folder = Path(path)
    meta = read_meta(folder)
    if env is not None:
        check_env(meta, env)
    if meta.model is None:
        model = _load_zip(folder, meta, env, trust)
    else:
        model = rebuild_model(
            meta.algo, meta.model, _read_weights(folder, meta.model["weights_sha256"]), env
        )
    return Run(model=model, meta=meta, path=folder)


def upgrade_run(path: str | Path, *, trust: bool = False) -> Path:
    """Convert a legacy run folder (``model.zip``) to ``model.safetensors`` in place.

    Needs ``trust=True``: the zip is unpickled once (EXECUTING any code it carries). The rest of
    ``meta.json`` (data hash, symbols, split dates...) is kept as it was.
    """
    run = load(path, trust=trust)
    if run.meta.model is not None:
        return run.path
    tensors, spec = encode_model(run.model)
    blob = safetensors.torch.save(tensors)
    spec["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    _write(run.path, dataclasses.replace(run.meta, model=spec), blob)
    return run.path


def make_run_env(
    meta: RunMeta,
    *,
    split: str = "test",
    market: Panel | None = None,
    check_hash: bool = True,
    **overrides: Any,
) -> Any:
    """Rebuild the run's env on ``split`` (whole split, sequential), checking the data first."""

    if meta.env_id not in ENV_IDS:
        raise ConfigError(f"unknown env id {meta.env_id!r} in meta.json")
    source: str | Panel = market if market is not None else meta.market
    kwargs = dict(meta.env_kwargs)
    panel = market_panel(source, kwargs.pop("symbols", None))
    check_panel(meta, panel, check_hash=check_hash)
    kwargs.update(split=split, split_dates=meta.split_dates, sampling="sequential")
    if meta.env_id != "quantrl/HFT-v0":
        kwargs["episode_length"] = None  # the whole split in one episode
    kwargs.update(overrides)

    module, cls = ENV_IDS[meta.env_id][0].split(":")
    env_cls = getattr(importlib.import_module(module), cls)
    try:
        env = env_cls(panel, **kwargs)
    except QuantRLError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ConfigError(
            f"the env_kwargs of {META_FILE} do not build {meta.env_id}: {str(exc)[:200]}"
        ) from None
    check_env(meta, env)
    return env


__all__ = [
    "LEGACY_MODEL_FILE",
    "META_FILE",
    "MODEL_FILE",
    "Run",
    "RunMeta",
    "check_env",
    "check_panel",
    "data_hash",
    "load",
    "make_run_env",
    "market_panel",
    "read_meta",
    "save",
    "upgrade_run",
]
