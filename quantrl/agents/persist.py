"""Save / load trained agents in a run folder (``model.zip`` + ``meta.json``) with data guards.

``meta.json`` records the algorithm, the env id and its constructor kwargs, the market, the
split dates, the asset universe (symbols), the panel shape and a data hash (sha256 of the close
array bytes, the dates and the symbols). Loading checks them: a model is never evaluated on a
different asset universe or shape (``DataError``), nor, by default, on changed data.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quantrl.agents.factory import algo_class, algo_name
from quantrl.data.cache import atomic_write_bytes
from quantrl.data.panel import Panel
from quantrl.envs.core import resolve_panel
from quantrl.envs.registration import ENV_IDS
from quantrl.errors import ConfigError, DataError

META_VERSION = 1
MODEL_FILE = "model.zip"
META_FILE = "meta.json"


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
    if isinstance(value, Panel):
        raise ConfigError("env_kwargs may not hold a Panel: pass it as market=")
    return str(value)


@dataclass(frozen=True)
class RunMeta:
    """Contents of ``meta.json``: how to rebuild the env and which data the model knows."""

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

    def to_json(self) -> str:
        """The metadata as indented JSON."""
        d = {
            "version": META_VERSION,
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
        return json.dumps(d, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunMeta:
        """Parse ``meta.json`` text (ConfigError on missing keys)."""
        d = json.loads(text)
        try:
            return cls(
                algo=d["algo"],
                env_id=d["env_id"],
                env_kwargs=dict(d["env_kwargs"]),
                market=d["market"],
                split_dates=tuple(d["split_dates"]) if d.get("split_dates") else None,
                symbols=tuple(d["symbols"]),
                n_dates=int(d["n_dates"]),
                data_hash=d["data_hash"],
                obs_shape=tuple(d["obs_shape"]),
                action_shape=tuple(d["action_shape"]),
                extra=dict(d.get("extra", {})),
            )
        except KeyError as exc:
            raise ConfigError(f"meta.json lacks the key {exc.args[0]!r}") from exc


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
    """Write ``path/model.zip`` and ``path/meta.json`` atomically; returns the run folder."""
    folder = Path(path)
    kwargs = {k: v for k, v in env_kwargs.items() if k not in ("market", "split_dates")}
    panel = market_panel(market, kwargs.get("symbols"))
    name = market if isinstance(market, str) else (market.name or "panel")
    if split_dates is not None:
        split_dates = (str(split_dates[0])[:10], str(split_dates[1])[:10])
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
    )
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    model.save(buffer)
    atomic_write_bytes(folder / MODEL_FILE, buffer.getvalue())
    atomic_write_bytes(folder / META_FILE, meta.to_json().encode())
    return folder


def read_meta(path: str | Path) -> RunMeta:
    """The ``meta.json`` of a run folder (ConfigError if there is none)."""
    file = Path(path) / META_FILE
    if not file.exists():
        raise ConfigError(f"{path} is not a run folder: {META_FILE} is missing")
    return RunMeta.from_json(file.read_text())


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


def load(path: str | Path, env: Any = None) -> Run:
    """Load a run folder; with ``env`` its universe and spaces are checked against the model."""
    folder = Path(path)
    meta = read_meta(folder)
    file = folder / MODEL_FILE
    if not file.exists():
        raise ConfigError(f"{folder} has no {MODEL_FILE}")
    if not zipfile.is_zipfile(file):
        raise ConfigError(f"{file} is not a valid model archive (corrupted?)")
    if env is not None:
        check_env(meta, env)
    cls = algo_class(meta.algo)
    model = cls.load(str(file), env=env, device="cpu")
    return Run(model=model, meta=meta, path=folder)


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
    env = env_cls(panel, **kwargs)
    check_env(meta, env)
    return env


__all__ = [
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
]
