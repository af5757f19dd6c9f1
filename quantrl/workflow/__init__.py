"""Model workflows: features -> model -> signal -> top-k dropout backtest, from one TOML spec.

``run_workflow(spec)`` evaluates a feature set (Alpha158, Alpha360, a mined pool or formulas) on a
market panel, trains LightGBM or a ridge baseline on the train split with early stopping on the
valid split, scores each split's predictions (IC, RankIC, ICIR) and backtests Qlib's top-k dropout
strategy on the test split. ``quantrl workflow run spec.toml`` is the command-line form.
"""

from __future__ import annotations

from quantrl.workflow.models import QLIB_LGB_PARAMS, LightGBMModel, LinearModel, Model
from quantrl.workflow.processing import FeatureProcessor, normalize_label
from quantrl.workflow.result import WorkflowResult
from quantrl.workflow.runner import run_workflow, write_outputs
from quantrl.workflow.spec import WorkflowSpec, load_workflow_spec
from quantrl.workflow.strategy import topk_dropout, topk_dropout_weights

__all__ = [
    "QLIB_LGB_PARAMS",
    "FeatureProcessor",
    "LightGBMModel",
    "LinearModel",
    "Model",
    "WorkflowResult",
    "WorkflowSpec",
    "load_workflow_spec",
    "normalize_label",
    "run_workflow",
    "topk_dropout",
    "topk_dropout_weights",
    "write_outputs",
]
