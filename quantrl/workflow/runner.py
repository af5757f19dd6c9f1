"""``run_workflow``: features -> model -> signal -> top-k dropout backtest, from one spec.

Stages (each timed): load the panel and evaluate the features on all of it (rows <= t only), the
label inside each split; fit the feature processor on the train rows and normalise the train and
valid labels per date; train on train, stop on valid; predict each split once; score the
predictions against the raw label (IC, RankIC, ICIR); run top-k dropout on the test predictions
(decided at t's close, traded at t+1's open, ``fees`` per side); write the outputs.

Differences from Qlib's LightGBM Alpha158 benchmark: ``vwap`` may be a proxy (recorded in the
panel's meta); labels never cross a split boundary (Qlib's last train labels read valid prices);
two threads instead of twenty; one ``fees`` rate per side (Qlib charges 0.0005 to buy and 0.0015
to sell with a minimum of 5; the default 0.001 has the same round-trip cost) and no price-limit
rule; Qlib trades at the close on the previous day's score.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from quantrl.backtest.engine import run_weights
from quantrl.backtest.result import BacktestResult
from quantrl.data.cache import atomic_write_bytes
from quantrl.data.panel import Panel
from quantrl.display import format_value
from quantrl.evaluation.report import write_report
from quantrl.jobs.ledger import open_registry, record_backtests
from quantrl.jobs.store import Registry
from quantrl.progress import ProgressBar
from quantrl.stats.ic import ic_summary
from quantrl.workflow.dataset import SPLITS, WorkflowData, build_data, learn_rows
from quantrl.workflow.models import LightGBMModel, LinearModel, Model
from quantrl.workflow.processing import FeatureProcessor, normalize_label
from quantrl.workflow.result import WorkflowResult
from quantrl.workflow.spec import WorkflowSpec, load_workflow_spec
from quantrl.workflow.strategy import topk_dropout_weights

__all__ = ["equal_weight_index", "make_model", "metrics_dict", "run_workflow", "write_outputs"]


def make_model(spec: WorkflowSpec) -> Model:
    """The [model] table as an unfitted model."""
    m = spec.model
    if m.kind == "lightgbm":
        return LightGBMModel(
            params=m.lgb_params(),
            num_boost_round=m.num_boost_round,
            early_stopping_rounds=m.early_stopping_rounds,
            seed=m.seed,
            num_threads=m.num_threads,
        )
    return LinearModel(alphas=tuple(m.alphas))


def equal_weight_index(panel: Panel) -> np.ndarray:
    """(dates,) price of an index holding every symbol with a bar, equally, rebalanced daily."""
    close = panel["close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        step = close[1:] / close[:-1] - 1.0
    finite = np.isfinite(step)
    count = finite.sum(axis=1)
    mean = np.where(count > 0, np.where(finite, step, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)
    return np.concatenate(([1.0], np.cumprod(1.0 + mean)))


class _Stages:
    """Stage timer; each stage shows a ``quantrl.progress.ProgressBar`` when asked."""

    def __init__(self, show: bool, console: Console | None) -> None:
        self.timings: dict[str, float] = {}
        self.show = show
        self.console = console

    def __enter__(self) -> _Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """Time a stage; yields ``update(done, total=None)`` for its progress bar."""
        t0 = time.perf_counter()
        with ProgressBar(name, total or 1, enabled=self.show, console=self.console) as bar:

            def update(done: int, new_total: int | None = None) -> None:
                if new_total is not None:
                    bar.total = int(new_total)
                bar.update(done)

            yield update
            bar.update(bar.total or 1)
        self.timings[name] = time.perf_counter() - t0


def _predict(model: Model, x: np.ndarray, ok: np.ndarray, rows: tuple[int, int]) -> np.ndarray:
    """(rows, symbols) scores of one split: one predict call on its cells with a bar."""
    a, b = rows
    out = np.full(ok[a:b].shape, np.nan)
    mask = ok[a:b]
    if mask.any():
        out[mask] = model.predict(x[a:b][mask])
    return out


def _backtest(spec: WorkflowSpec, data: WorkflowData, scores: np.ndarray) -> BacktestResult:
    a, b = data.bounds["test"]
    panel = data.panel.slice(data.panel.dates[a], data.panel.dates[b - 1])
    s = spec.strategy
    weights = topk_dropout_weights(scores[a:b], s.topk, s.n_drop, rebalance=s.rebalance)
    bench = equal_weight_index(panel) if s.benchmark == "equal_weight" else None
    return run_weights(panel, weights, fees=s.fees, benchmark=bench)


def run_workflow(
    spec: WorkflowSpec | Mapping[str, Any] | str | Path,
    *,
    panel: Panel | None = None,
    progress: bool = False,
    console: Console | None = None,
    write: bool = True,
    study: str | None = None,
    registry: Registry | str | Path | None = None,
) -> WorkflowResult:
    """Run a workflow spec (a ``WorkflowSpec``, its tables as a mapping, or a TOML path).

    ``panel`` replaces the [data] market, date range and symbols (split dates and the vwap proxy
    still apply; split dates default to those of the [data] market). ``progress`` shows rich
    progress bars; ``write=False`` skips the [output] files and the trial ledger.

    The model is chosen on the validation split (early stopping, the ridge penalty) and the test
    split is predicted once; with ``write`` the test backtest is recorded as a trial of ``study``
    (default: ``<market>-workflow``) in the registry's ledger (``registry``: the default path of
    ``quantrl.jobs.ledger.registry_path``), and its deflated Sharpe ratio counts that study's
    test-split trials.
    """
    spec = load_workflow_spec(spec)
    with _Stages(progress, console) as stages:
        with stages.stage("features", total=1) as update:
            data = build_data(spec, panel, progress=update)
        with stages.stage("preprocess"):
            train_rows = data.bounds["train"]
            processor = FeatureProcessor(spec.feature_norm(), spec.fillna())
            processor.fit(data.features[train_rows[0] : train_rows[1]])
            x = processor.transform(data.features)
            learn_label = normalize_label(data.label, spec.label.norm)
            x_train, y_train = learn_rows(x, learn_label, data.bounds["train"])
            x_valid, y_valid = learn_rows(x, learn_label, data.bounds["valid"])
        model = make_model(spec)
        with stages.stage("train", total=getattr(model, "num_boost_round", None)) as update:
            model.fit(x_train, y_train, x_valid, y_valid, progress=update)
        del x_train, y_train, x_valid, y_valid
        with stages.stage("predict"):
            scores = np.full(data.label.shape, np.nan)
            for name in SPLITS:
                a, b = data.bounds[name]
                scores[a:b] = _predict(model, x, data.tradable, data.bounds[name])
        del x
        with stages.stage("evaluate"):
            ic = {}
            for name in SPLITS:
                a, b = data.bounds[name]
                ic[name] = ic_summary(scores[a:b], data.label[a:b])
        with stages.stage("backtest"):
            backtest = _backtest(spec, data, scores)
    trials = None
    if write:
        ledger = open_registry(registry)
        name = f"{spec.name} ({spec.model.kind}, seed {spec.model.seed})"
        trials = record_backtests(
            ledger,
            study or f"{spec.data.market}-workflow",
            "workflow",
            {name: backtest},
            split="test",
            params={name: spec.model_dump(mode="json")},
        )
    result = WorkflowResult(
        spec=spec,
        dates=data.panel.dates,
        symbols=data.panel.symbols,
        feature_names=data.names,
        scores=scores,
        label=data.label,
        bounds=data.bounds,
        ic=ic,
        model=model,
        backtest=backtest,
        timings=stages.timings,
        trials=trials,
        meta={
            "market": spec.data.market,
            "valid_start": data.valid_start,
            "test_start": data.test_start,
            "feature_norm": spec.feature_norm(),
            "fillna": spec.fillna(),
            "derived_fields": dict(data.panel.meta.get("derived_fields", {})),
            "model": model.summary(),
        },
    )
    if write and spec.output.dir:
        t0 = time.perf_counter()
        files = write_outputs(result, spec.path(spec.output.dir), report=spec.output.report)
        result.files.update(files)
        result.timings["write"] = time.perf_counter() - t0
    return result


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def metrics_dict(result: WorkflowResult) -> dict[str, Any]:
    """JSON-ready metrics: IC by split, model fit, backtest statistics, timings and settings."""
    stats = result.backtest_stats()
    return _json_ready(
        {
            "name": result.spec.name,
            "ic": {name: s.as_dict() for name, s in result.ic.items()},
            "backtest": {
                str(k): float(v) if isinstance(v, numbers.Real) else format_value(v)
                for k, v in stats.items()
            },
            "model": result.meta.get("model", {}),
            "timings": dict(result.timings),
            "splits": {
                name: [str(result.dates[a])[:10], str(result.dates[b - 1])[:10]]
                for name, (a, b) in result.bounds.items()
            },
            "features": {"count": len(result.feature_names), "names": list(result.feature_names)},
            "settings": {k: v for k, v in result.meta.items() if k != "model"},
            "spec": result.spec.model_dump(mode="json"),
        }
    )


def write_outputs(result: WorkflowResult, folder: Path, *, report: bool = True) -> dict[str, Path]:
    """Write predictions.parquet, metrics.json, backtest.csv and report.html (atomically)."""
    folder = Path(folder)
    files = {
        "predictions": folder / "predictions.parquet",
        "metrics": folder / "metrics.json",
        "backtest": folder / "backtest.csv",
    }
    buffer = io.BytesIO()
    result.predictions(None).to_parquet(buffer, index=False)
    atomic_write_bytes(files["predictions"], buffer.getvalue())
    text = json.dumps(metrics_dict(result), indent=2)
    atomic_write_bytes(files["metrics"], text.encode())
    atomic_write_bytes(files["backtest"], result.backtest.to_pandas("summary").to_csv().encode())
    if report:
        files["report"] = folder / "report.html"
        s = result.spec.strategy
        ic = result.ic_table().rename(
            columns={
                "ic": "IC",
                "icir": "ICIR",
                "rank_ic": "RankIC",
                "rank_icir": "RankICIR",
                "ic_positive": "share IC > 0",
                "n_dates": "dates",
            }
        )
        write_report(
            {"topk_dropout": result.backtest},
            files["report"],
            title=f"{result.spec.name}: {result.spec.model.kind} on {result.spec.data.market}",
            subtitle=(
                f"top-{s.topk} dropout ({s.n_drop} a day), fees {s.fees:g} per side, test split "
                f"from {result.meta['test_start']}"
            ),
            extra_tables={"Signal by split (IC against the raw label)": pd.DataFrame(ic)},
        )
    return files
