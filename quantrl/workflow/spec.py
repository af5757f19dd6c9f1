"""Workflow specification: one TOML file, validated by pydantic (unknown keys are refused).

Layout (every key has a default; relative paths are relative to the spec file)::

    name = "alpha158_lightgbm_sp500"

    [data]
    market = "sp500"               # a bundled name or a file path (quantrl.load_market)
    start = "2013-02-08"           # optional date range and symbols
    end = "2018-02-07"
    symbols = []
    max_symbols = 0                # > 0 keeps the first n symbols
    valid_start = "2016-07-01"     # default: the market's split (quantrl.data.splits)
    test_start = "2017-01-01"
    vwap = "none"                  # "proxy": add vwap = (high+low+close)/3 when a formula needs it

    [features]
    set = "alpha158"               # "alpha158" | "alpha360" | "pool:path/to/pool.json"
    formulas = []                  # or explicit formulas (then no set), with optional names
    names = []
    norm = "auto"                  # auto | none | robust_zscore | zscore | cs_zscore | cs_rank
    fillna = "auto"                # auto | true | false (NaN -> 0 after the norm)

    [label]
    horizon = 20                   # label = Ref($field, -horizon) / $field - 1, inside each split
    field = "close"
    norm = "cs_zscore"             # none | cs_zscore | cs_rank (train and valid labels only)

    [model]
    kind = "lightgbm"              # lightgbm | linear
    seed = 0
    num_boost_round = 1000         # lightgbm: Qlib's benchmark parameters are the defaults
    early_stopping_rounds = 50
    num_threads = 2
    loss = "mse"
    learning_rate = 0.2            # colsample_bytree, subsample, lambda_l1, lambda_l2,
    params = {}                    # max_depth, num_leaves likewise; params: any other
    # alphas = [0.0, 0.001, ...]   # linear: ridge penalties, the best on valid MSE is kept

    [strategy]
    topk = 50
    n_drop = 5
    fees = 0.001                   # per side, fraction of notional
    rebalance = "changes"          # changes (Qlib-like) | full (equal weights every day)
    benchmark = "equal_weight"     # equal_weight | none

    [output]
    dir = "runs/alpha158_lightgbm_sp500"   # "" writes nothing
    report = true                  # HTML tear sheet

``norm = "auto"`` is Qlib's Alpha158 default for LightGBM (no feature processor) and
``robust_zscore`` for the linear model; ``fillna = "auto"`` is off for LightGBM (it handles NaN)
and on for the linear model.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quantrl.errors import ConfigError
from quantrl.workflow.models import QLIB_LGB_PARAMS

__all__ = [
    "DataSpec",
    "FeaturesSpec",
    "LabelSpec",
    "LightGBMSpec",
    "LinearSpec",
    "OutputSpec",
    "StrategySpec",
    "WorkflowSpec",
    "load_workflow_spec",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class DataSpec(BaseModel):
    """[data]: market, date range, symbols, split dates and the vwap proxy."""

    model_config = _STRICT
    market: str = "sp500"
    start: str | None = None
    end: str | None = None
    symbols: list[str] = Field(default_factory=list)
    max_symbols: int = Field(0, ge=0)
    valid_start: str | None = None
    test_start: str | None = None
    vwap: Literal["none", "proxy", "typical", "ohlc4"] = "none"


class FeaturesSpec(BaseModel):
    """[features]: a named set, a pool file or explicit formulas, and their processing."""

    model_config = _STRICT
    set: str | None = None
    formulas: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    norm: Literal["auto", "none", "robust_zscore", "zscore", "cs_zscore", "cs_rank"] = "auto"
    fillna: bool | Literal["auto"] = "auto"

    @model_validator(mode="after")
    def _one_source(self) -> FeaturesSpec:
        if self.set and self.formulas:
            raise ValueError("give either set or formulas, not both")
        if not self.set and not self.formulas:
            raise ValueError("give set = 'alpha158' | 'alpha360' | 'pool:PATH' or formulas")
        if self.names and not self.formulas:
            raise ValueError("names go with formulas")
        if self.set and not (
            self.set.lower() in ("alpha158", "alpha360") or self.set.startswith("pool:")
        ):
            raise ValueError(f"set must be alpha158, alpha360 or pool:PATH, got {self.set!r}")
        return self


class LabelSpec(BaseModel):
    """[label]: forward-return horizon, price field and per-date normalisation."""

    model_config = _STRICT
    horizon: int = Field(20, ge=1)
    field: str = "close"
    norm: Literal["none", "cs_zscore", "cs_rank"] = "cs_zscore"


class LightGBMSpec(BaseModel):
    """[model] kind = "lightgbm": Qlib's benchmark parameters by default."""

    model_config = _STRICT
    kind: Literal["lightgbm"] = "lightgbm"
    seed: int = 0
    num_boost_round: int = Field(1000, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    num_threads: int = Field(2, ge=1)
    loss: str = QLIB_LGB_PARAMS["loss"]
    colsample_bytree: float = Field(QLIB_LGB_PARAMS["colsample_bytree"], gt=0, le=1)
    learning_rate: float = Field(QLIB_LGB_PARAMS["learning_rate"], gt=0)
    subsample: float = Field(QLIB_LGB_PARAMS["subsample"], gt=0, le=1)
    lambda_l1: float = Field(QLIB_LGB_PARAMS["lambda_l1"], ge=0)
    lambda_l2: float = Field(QLIB_LGB_PARAMS["lambda_l2"], ge=0)
    max_depth: int = QLIB_LGB_PARAMS["max_depth"]
    num_leaves: int = Field(QLIB_LGB_PARAMS["num_leaves"], ge=2)
    params: dict[str, int | float | str | bool] = Field(default_factory=dict)

    def lgb_params(self) -> dict[str, Any]:
        """The model parameters other than rounds, threads and seed."""
        keys = ("loss", "colsample_bytree", "learning_rate", "subsample", "lambda_l1")
        keys += ("lambda_l2", "max_depth", "num_leaves")
        return {**{k: getattr(self, k) for k in keys}, **self.params}


class LinearSpec(BaseModel):
    """[model] kind = "linear": ridge, the penalty picked on the valid MSE."""

    model_config = _STRICT
    kind: Literal["linear"] = "linear"
    seed: int = 0
    alphas: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: [0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0], min_length=1
    )


class StrategySpec(BaseModel):
    """[strategy]: top-k dropout on the test predictions, costs and benchmark."""

    model_config = _STRICT
    topk: int = Field(50, ge=1)
    n_drop: int = Field(5, ge=0)
    fees: float = Field(0.001, ge=0, lt=1)
    rebalance: Literal["changes", "full"] = "changes"
    benchmark: Literal["equal_weight", "none"] = "equal_weight"

    @model_validator(mode="after")
    def _drop_within_k(self) -> StrategySpec:
        if self.n_drop > self.topk:
            raise ValueError(f"n_drop ({self.n_drop}) must not exceed topk ({self.topk})")
        return self


class OutputSpec(BaseModel):
    """[output]: the folder for predictions, metrics, backtest and report ("" = none)."""

    model_config = _STRICT
    dir: str = ""
    report: bool = True


class WorkflowSpec(BaseModel):
    """A whole workflow: data -> features -> label -> model -> strategy -> output."""

    model_config = _STRICT
    name: str = "workflow"
    data: DataSpec = Field(default_factory=DataSpec)
    features: FeaturesSpec = Field(default_factory=lambda: FeaturesSpec(set="alpha158"))
    label: LabelSpec = Field(default_factory=LabelSpec)
    model: Annotated[LightGBMSpec | LinearSpec, Field(discriminator="kind")] = Field(
        default_factory=LightGBMSpec
    )
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    base_dir: str = Field("", exclude=True)

    @field_validator("model", mode="before")
    @classmethod
    def _default_kind(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "kind" not in value:
            return {**value, "kind": "lightgbm"}
        return value

    def path(self, text: str) -> Path:
        """A path from the spec, relative to the spec file's folder."""
        p = Path(text).expanduser()
        return p if p.is_absolute() or not self.base_dir else Path(self.base_dir) / p

    def feature_norm(self) -> str:
        """The feature norm after resolving "auto" for the model."""
        if self.features.norm != "auto":
            return self.features.norm
        return "none" if self.model.kind == "lightgbm" else "robust_zscore"

    def fillna(self) -> bool:
        """Whether NaN features become 0, after resolving "auto" for the model."""
        if self.features.fillna != "auto":
            return bool(self.features.fillna)
        return self.model.kind == "linear"

    def with_seed(self, seed: int) -> WorkflowSpec:
        """The same spec with another model seed."""
        return self.model_copy(update={"model": self.model.model_copy(update={"seed": seed})})


def _one_line(exc: ValidationError, source: str) -> str:
    """The first pydantic error as ``source: [table] key: message``."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    if len(loc) > 1 and loc[0] == "model" and loc[1] in ("lightgbm", "linear"):
        loc.pop(1)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
    if err["type"] == "extra_forbidden":
        if len(loc) == 1:
            return f"{source}: unknown table or key {loc[0]!r}"
        return f"{source}: [{'.'.join(loc[:-1])}] unknown key {loc[-1]!r}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        return f"{source}: {msg}"
    if len(loc) == 1:
        return f"{source}: [{loc[0]}] {msg}"
    return f"{source}: [{'.'.join(loc[:-1])}] {loc[-1]}: {msg}"


def load_workflow_spec(source: str | Path | Mapping[str, Any] | WorkflowSpec) -> WorkflowSpec:
    """A validated spec from a TOML file, a mapping of its tables, or a spec (returned as is).

    Every problem is one ``ConfigError`` line naming the table and key.
    """
    if isinstance(source, WorkflowSpec):
        return source
    base = ""
    if isinstance(source, Mapping):
        data, label = dict(source), "workflow spec"
    else:
        path = Path(source)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read workflow spec {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
        base, label = str(path.resolve().parent), str(path)
    if "base_dir" in data:
        raise ConfigError(f"{label}: unknown table or key 'base_dir'")
    try:
        spec = WorkflowSpec.model_validate({**data, "base_dir": base})
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, label)) from None
    return spec
