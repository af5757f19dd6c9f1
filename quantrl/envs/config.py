"""Typed configuration records of the environments, and flat keywords mapped onto them.

Each record is a small frozen dataclass validated on construction (a bad value raises a
``ConfigError`` naming it). An environment takes its records as keywords (``costs=Costs(...)``,
``reward=RewardConfig(...)``, ...), or a plain dict of their fields, and also the flat keywords
of its ``Slot`` table (``fees=0.001``, ``reward="dsr"``, ``window=10``...), which are applied on
top of the environment's default record. A keyword that is neither raises a ``ConfigError``
listing the valid ones; a record and a flat keyword for the same record together raise too.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from quantrl.envs.features import TECHNICALS
from quantrl.envs.rewards import RewardConfig
from quantrl.errors import ConfigError
from quantrl.kernels.env_state import (
    IMPACT_LINEAR,
    IMPACT_NONE,
    IMPACT_SQRT,
    MODE_LONG_SHORT,
    MODE_SOFTMAX,
    MODE_WEIGHTS,
)

Execution = Literal["next_open", "next_close"]


def check_number(
    name: str,
    value: Any,
    low: float = 0.0,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float in the interval from ``low`` to ``high``, else a ConfigError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    x = float(value) if ok else np.nan
    ok = ok and np.isfinite(x)
    ok = ok and (x > low if low_open else x >= low) and (x < high if high_open else x <= high)
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open or high == np.inf else "]"
        top = "inf" if high == np.inf else f"{high:g}"
        raise ConfigError(
            f"{name} must be a finite number in {left}{low:g}, {top}{right}, got {value!r}"
        )
    return x


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``, else a ConfigError listing them."""
    options = tuple(choices)
    if not isinstance(value, str | type(None)) or value not in options:
        raise ConfigError(
            f"unknown {name} {value!r}; choose from {', '.join(str(c) for c in options)}"
        )
    return value


def _set(record: Any, name: str, value: Any) -> None:
    object.__setattr__(record, name, value)


def _names(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{name} must be a list of strings, got {value!r}")
    out = tuple(value)
    if not all(isinstance(v, str) for v in out):
        raise ConfigError(f"{name} must be a list of strings, got {value!r}")
    return out


@dataclass(frozen=True)
class Costs:
    """Trading costs and account settings (the account arguments of ``run_weights``)."""

    fees: float = 0.001
    fixed_fees: float = 0.0
    slippage: float = 0.0
    init_cash: float = 1e6
    execution: Execution = "next_open"
    rebalance_threshold: float = 0.0
    max_leverage: float = 1.0

    FLAT: ClassVar[dict[str, str]] = {
        "fees": "fees",
        "fixed_fees": "fixed_fees",
        "slippage": "slippage",
        "init_cash": "init_cash",
        "execution": "execution",
        "rebalance_threshold": "rebalance_threshold",
        "max_leverage": "max_leverage",
    }

    def __post_init__(self) -> None:
        _set(self, "fees", check_number("fees", self.fees, 0.0, 1.0, high_open=True))
        _set(self, "fixed_fees", check_number("fixed_fees", self.fixed_fees))
        _set(self, "slippage", check_number("slippage", self.slippage, 0.0, 1.0, high_open=True))
        _set(self, "init_cash", check_number("init_cash", self.init_cash, low_open=True))
        _set(
            self,
            "rebalance_threshold",
            check_number("rebalance_threshold", self.rebalance_threshold),
        )
        _set(self, "max_leverage", check_number("max_leverage", self.max_leverage, low_open=True))
        if self.execution not in ("next_open", "next_close"):
            raise ConfigError(
                f"execution must be 'next_open' or 'next_close', got {self.execution!r}"
            )

    def write(self, params: np.ndarray) -> None:
        """Write the cost fields of a ``PARAMS_DTYPE`` record array."""
        p = params[0]
        p["fees"] = self.fees
        p["fixed_fees"] = self.fixed_fees
        p["slippage"] = self.slippage
        p["threshold"] = self.rebalance_threshold
        p["init_cash"] = self.init_cash
        p["max_leverage"] = self.max_leverage


ACTION_MODES = {"softmax": MODE_SOFTMAX, "long_short": MODE_LONG_SHORT, "weights": MODE_WEIGHTS}
"""Portfolio action modes and their kernel codes."""


@dataclass(frozen=True)
class ActionConfig:
    """How a Portfolio action maps to target weights: ``mode`` and the softmax ``temperature``."""

    mode: str = "softmax"
    temperature: float = 5.0

    FLAT: ClassVar[dict[str, str]] = {"action_mode": "mode", "temperature": "temperature"}

    def __post_init__(self) -> None:
        check_choice("action_mode", self.mode, ACTION_MODES)
        _set(self, "temperature", check_number("temperature", self.temperature, low_open=True))


@dataclass(frozen=True)
class ObservationConfig:
    """Observation features: ``window`` rows of returns, ``vol_window``, technicals, factors."""

    window: int = 20
    vol_window: int = 20
    technicals: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()

    FLAT: ClassVar[dict[str, str]] = {
        "window": "window",
        "vol_window": "vol_window",
        "technicals": "technicals",
        "factors": "factors",
    }

    def __post_init__(self) -> None:
        _set(self, "window", check_int("window", self.window))
        _set(self, "vol_window", check_int("vol_window", self.vol_window, 2))
        _set(self, "technicals", _names("technicals", self.technicals))
        _set(self, "factors", _names("factors", self.factors))
        unknown = [t for t in self.technicals if t not in TECHNICALS]
        if unknown:
            raise ConfigError(
                f"unknown technical feature(s) {', '.join(unknown)}; "
                f"choose from {', '.join(TECHNICALS)}"
            )


@dataclass(frozen=True)
class ESGConfig:
    """ESG regulation: grant rate ``gamma``, tax rate ``theta``, static scores, score sources."""

    gamma: float = 0.5
    theta: float = 0.1
    static: bool = False
    sources: tuple[str, ...] | None = None

    FLAT: ClassVar[dict[str, str]] = {
        "gamma": "gamma",
        "theta": "theta",
        "esg_static": "static",
        "esg_sources": "sources",
    }

    def __post_init__(self) -> None:
        _set(self, "gamma", check_number("gamma", self.gamma))
        _set(self, "theta", check_number("theta", self.theta))
        _set(self, "static", bool(self.static))
        if self.sources is not None:
            _set(self, "sources", _names("esg_sources", self.sources))


@dataclass(frozen=True)
class LevelConfig:
    """HFT discrete actions: ``n_levels`` target positions up to ``max_position`` of equity."""

    n_levels: int = 11
    max_position: float = 1.0
    long_only: bool = False

    FLAT: ClassVar[dict[str, str]] = {
        "n_levels": "n_levels",
        "max_position": "max_position",
        "long_only": "long_only",
    }

    def __post_init__(self) -> None:
        _set(self, "n_levels", check_int("n_levels", self.n_levels, 2))
        _set(self, "max_position", check_number("max_position", self.max_position, low_open=True))
        _set(self, "long_only", bool(self.long_only))

    def levels(self) -> np.ndarray:
        """Target position weights of the levels, lowest first."""
        k = np.arange(self.n_levels) / (self.n_levels - 1)
        if self.long_only:
            return self.max_position * k
        return self.max_position * (2.0 * k - 1.0)


IMPACTS = {"none": IMPACT_NONE, "linear": IMPACT_LINEAR, "sqrt": IMPACT_SQRT}
"""Market impact models and their kernel codes."""


@dataclass(frozen=True)
class ImpactConfig:
    """HFT market impact: ``model``, ``coef`` (None: 1e-3 linear, 1.0 sqrt), window, cap."""

    model: str = "sqrt"
    coef: float | None = None
    window: int = 60
    max_impact: float = 0.05
    volume_unit: str | None = None

    FLAT: ClassVar[dict[str, str]] = {
        "impact": "model",
        "impact_coef": "coef",
        "impact_window": "window",
        "max_impact": "max_impact",
        "volume_unit": "volume_unit",
    }

    def __post_init__(self) -> None:
        check_choice("impact model", self.model, IMPACTS)
        if self.coef is not None:
            _set(self, "coef", check_number("impact_coef", self.coef))
        _set(self, "window", check_int("impact_window", self.window, 2))
        _set(self, "max_impact", check_number("max_impact", self.max_impact, 0.0, 0.99))
        if self.volume_unit is not None:
            check_choice("volume_unit", self.volume_unit, ("base", "quote"))

    @property
    def effective_coef(self) -> float:
        """``coef``, or the model's default when it is None."""
        if self.coef is not None:
            return self.coef
        return 1e-3 if self.model == "linear" else 1.0


@dataclass(frozen=True)
class SpreadConfig:
    """Pairs observation: z-score ``window`` and the number of lagged z-scores ``n_lags``."""

    window: int = 20
    n_lags: int = 5

    FLAT: ClassVar[dict[str, str]] = {"window": "window", "n_lags": "n_lags"}

    def __post_init__(self) -> None:
        _set(self, "window", check_int("window", self.window, 2))
        _set(self, "n_lags", check_int("n_lags", self.n_lags))


@dataclass(frozen=True)
class Slot:
    """How an environment takes one record: its class, its default and its flat keywords."""

    record: type
    default: Any
    flat: Mapping[str, str]


def slot(default: Any, flat: Mapping[str, str] | Iterable[str] | None = None) -> Slot:
    """A ``Slot`` for ``default``'s class; ``flat``: the record's ``FLAT`` map or a subset of it."""
    cls = type(default)
    if flat is None:
        mapping: Mapping[str, str] = cls.FLAT
    elif isinstance(flat, Mapping):
        mapping = flat
    else:
        mapping = {k: cls.FLAT[k] for k in flat}
    return Slot(cls, default, dict(mapping))


def _build_record(name: str, cls: type, value: Any) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ConfigError(
                f"{name}: unknown field(s) {', '.join(unknown)} of {cls.__name__}; "
                f"valid: {', '.join(sorted(fields))}"
            )
        return cls(**value)
    raise ConfigError(f"{name} must be a {cls.__name__} record, got {type(value).__name__}")


def resolve_config(
    owner: str, slots: Mapping[str, Slot], given: Mapping[str, Any], explicit: Iterable[str] = ()
) -> dict[str, Any]:
    """The records of an environment from its keyword arguments (see the module docstring).

    ``owner`` names the environment in errors, ``explicit`` lists its other keywords (shown as
    valid ones when a keyword is unknown).
    """
    flat_of: dict[str, tuple[str, str]] = {}
    for name, s in slots.items():
        for key, field in s.flat.items():
            flat_of[key] = (name, field)
    records: dict[str, Any] = {}
    updates: dict[str, dict[str, Any]] = {name: {} for name in slots}
    flat_used: dict[str, list[str]] = {name: [] for name in slots}
    for key, value in given.items():
        s = slots.get(key)
        if s is not None and (key not in flat_of or isinstance(value, s.record | Mapping)):
            records[key] = _build_record(key, s.record, value)
        elif key in flat_of:
            name, field = flat_of[key]
            updates[name][field] = value
            flat_used[name].append(key)
        else:
            valid = sorted({*explicit, *slots, *flat_of})
            raise ConfigError(
                f"{owner} got an unknown keyword {key!r}; valid keywords: {', '.join(valid)}"
            )
    out: dict[str, Any] = {}
    for name, s in slots.items():
        if name in records and updates[name]:
            raise ConfigError(
                f"{owner}: pass {', '.join(flat_used[name])} inside {name}= or as keywords, "
                "not both"
            )
        base = records.get(name, s.default)
        out[name] = dataclasses.replace(base, **updates[name]) if updates[name] else base
    return out


__all__ = [
    "ACTION_MODES",
    "IMPACTS",
    "ActionConfig",
    "Costs",
    "ESGConfig",
    "Execution",
    "ImpactConfig",
    "LevelConfig",
    "ObservationConfig",
    "RewardConfig",
    "Slot",
    "SpreadConfig",
    "check_choice",
    "check_int",
    "check_number",
    "resolve_config",
    "slot",
]
