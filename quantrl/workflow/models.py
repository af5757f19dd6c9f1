"""Return models on a feature matrix: LightGBM (Qlib's ``LGBModel``) and a ridge baseline.

Both train on (rows, features) train data, pick their stopping point on the valid data only
(LightGBM: early stopping on the valid loss; ridge: the penalty with the lowest valid MSE), and
predict any later matrix. Fitting is deterministic: LightGBM runs with a fixed ``seed``,
``deterministic=True``, a fixed thread count and row-wise histograms; ridge is closed form.
LightGBM is imported when a model is fitted, so importing the workflow (and the CLI) stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from quantrl.errors import ConfigError

__all__ = ["QLIB_LGB_PARAMS", "LightGBMModel", "LinearModel", "Model"]

QLIB_LGB_PARAMS: dict[str, Any] = {
    "loss": "mse",
    "colsample_bytree": 0.8879,
    "learning_rate": 0.2,
    "subsample": 0.8789,
    "lambda_l1": 205.6999,
    "lambda_l2": 580.9768,
    "max_depth": 8,
    "num_leaves": 210,
}
"""Qlib's LightGBM Alpha158 benchmark parameters (``workflow_config_lightgbm_Alpha158.yaml``)
but ``num_threads`` (20 there). As in Qlib, ``subsample`` has no effect without ``subsample_freq``."""

Progress = Callable[[int, int], None]


class Model(Protocol):
    """What the workflow needs of a model."""

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        progress: Progress | None = None,
    ) -> Any:
        """Train on the train rows, stopping/selecting on the valid rows."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of (rows, features) -> (rows,)."""
        ...

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts about the fit (stopping point, valid loss)."""
        ...


def _check_xy(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ConfigError(
            f"{name}: expected (rows, features) and (rows,), got {x.shape}, {y.shape}"
        )
    if x.shape[0] == 0:
        raise ConfigError(f"{name}: no rows with a label to learn from")


@dataclass
class LightGBMModel:
    """LightGBM regressor with early stopping on the valid loss, as Qlib's ``LGBModel``.

    ``params`` are LightGBM parameters (``loss`` is Qlib's name for ``objective``); the model
    trains up to ``num_boost_round`` rounds and stops after ``early_stopping_rounds`` without a
    better valid loss; predictions use the best round.
    """

    params: dict[str, Any] = field(default_factory=lambda: dict(QLIB_LGB_PARAMS))
    num_boost_round: int = 1000
    early_stopping_rounds: int = 50
    seed: int = 0
    num_threads: int = 2
    booster: Any = field(default=None, repr=False)
    valid_loss: list[float] = field(default_factory=list, repr=False)

    def lgb_params(self) -> dict[str, Any]:
        """The parameter dict passed to ``lightgbm.train``."""
        params = dict(self.params)
        objective = params.pop("loss", params.pop("objective", "mse"))
        params.update(
            objective=objective,
            verbosity=-1,
            seed=int(self.seed),
            deterministic=True,
            force_row_wise=True,
            num_threads=int(self.num_threads),
        )
        return params

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        progress: Progress | None = None,
    ) -> LightGBMModel:
        """Train on the train rows; early-stop on the valid rows' loss."""
        import lightgbm as lgb

        _check_xy(x_train, y_train, "train")
        _check_xy(x_valid, y_valid, "valid")
        train = lgb.Dataset(x_train, label=y_train, free_raw_data=True)
        valid = lgb.Dataset(x_valid, label=y_valid, reference=train, free_raw_data=True)
        history: dict[str, Any] = {}
        total = int(self.num_boost_round)

        def report(env: Any) -> None:
            if progress is not None:
                progress(env.iteration + 1, total)

        callbacks = [
            lgb.early_stopping(int(self.early_stopping_rounds), verbose=False),
            lgb.record_evaluation(history),
            report,
        ]
        try:
            self.booster = lgb.train(
                self.lgb_params(),
                train,
                num_boost_round=total,
                valid_sets=[train, valid],
                valid_names=["train", "valid"],
                callbacks=callbacks,
            )
        except lgb.basic.LightGBMError as exc:
            raise ConfigError(f"LightGBM refused the parameters: {exc}") from exc
        metric = next(iter(history.get("valid", {}).values()), [])
        self.valid_loss = [float(v) for v in metric]
        return self

    @property
    def best_iteration(self) -> int:
        """The round whose model predicts (the best valid loss)."""
        if self.booster is None:
            return 0
        return int(self.booster.best_iteration or self.booster.current_iteration())

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of the best round."""
        if self.booster is None:
            raise ConfigError("fit the model before predicting")
        return np.asarray(self.booster.predict(x, num_iteration=self.best_iteration))

    def summary(self) -> dict[str, Any]:
        """Rounds trained, best round and its valid loss."""
        best = self.best_iteration
        loss = self.valid_loss[best - 1] if 0 < best <= len(self.valid_loss) else math.nan
        return {
            "model": "lightgbm",
            "rounds": len(self.valid_loss),
            "best_iteration": best,
            "valid_loss": loss,
        }


@dataclass
class LinearModel:
    """Ridge regression with an intercept; the penalty with the lowest valid MSE is kept.

    Minimises ``mean((y - X b - c)^2) + alpha * |b|^2`` in closed form for each ``alphas`` value
    (float64 normal equations); the features must have no NaN (use ``fillna``).
    """

    alphas: Sequence[float] = (0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
    coef: np.ndarray | None = field(default=None, repr=False)
    intercept: float = 0.0
    alpha: float = math.nan
    valid_mse: dict[float, float] = field(default_factory=dict, repr=False)

    @staticmethod
    def _moments(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Means, covariance and cross-covariance (ddof=0) in float64, two passes by chunk."""
        n, f = x.shape
        step = 65536
        chunks = range(0, n, step)
        mx = sum(np.asarray(x[a : a + step], dtype=np.float64).sum(axis=0) for a in chunks) / n
        my = float(np.sum(y, dtype=np.float64)) / n
        cov = np.zeros((f, f))
        cross = np.zeros(f)
        for a in chunks:
            xb = np.asarray(x[a : a + step], dtype=np.float64) - mx
            cov += xb.T @ xb
            cross += xb.T @ (np.asarray(y[a : a + step], dtype=np.float64) - my)
        return mx, my, cov / n, cross / n

    def fit(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_valid: np.ndarray,
        y_valid: np.ndarray,
        progress: Progress | None = None,
    ) -> LinearModel:
        """Solve the ridge problem for each alpha on train; keep the best on valid."""
        _check_xy(x_train, y_train, "train")
        _check_xy(x_valid, y_valid, "valid")
        if not (np.isfinite(x_train).all() and np.isfinite(x_valid).all()):
            raise ConfigError("the linear model needs finite features: set fillna = true")
        if not self.alphas or any(not a >= 0 for a in self.alphas):
            raise ConfigError(f"ridge alphas must be >= 0, got {list(self.alphas)}")
        mx, my, cov, cross = self._moments(x_train, y_train)
        best: tuple[float, float, np.ndarray, float] | None = None
        eye = np.eye(cov.shape[0])
        for i, alpha in enumerate(self.alphas):
            coef = np.linalg.lstsq(cov + float(alpha) * eye, cross, rcond=None)[0]
            intercept = my - float(mx @ coef)
            resid = y_valid - (np.asarray(x_valid, dtype=np.float64) @ coef + intercept)
            mse = float(np.mean(resid**2))
            self.valid_mse[float(alpha)] = mse
            if best is None or mse < best[0]:
                best = (mse, float(alpha), coef, intercept)
            if progress is not None:
                progress(i + 1, len(self.alphas))
        assert best is not None
        _, self.alpha, self.coef, self.intercept = best
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Linear scores."""
        if self.coef is None:
            raise ConfigError("fit the model before predicting")
        return np.asarray(x, dtype=np.float64) @ self.coef + self.intercept

    def summary(self) -> dict[str, Any]:
        """The chosen penalty and its valid MSE."""
        return {
            "model": "linear",
            "alpha": self.alpha,
            "valid_loss": self.valid_mse.get(self.alpha, math.nan),
        }
