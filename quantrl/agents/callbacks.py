"""Training callbacks: a progress bar, the finished episodes' returns, and periodic backtest
evaluation with best-model saving.

``BacktestEvalCallback`` runs the policy deterministically through a fresh env on the validation
split every ``eval_freq`` steps, computes Sharpe, total return and max drawdown of the equity
curve with ``quantrl.stats.performance``, saves the best model so far (atomically, through
``quantrl.agents.persist.save``) and stops training after ``patience`` evaluations without
improvement of the chosen ``metric``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from quantrl.agents.evaluate import rollout
from quantrl.agents.persist import save
from quantrl.errors import ConfigError
from quantrl.progress import ProgressBar
from quantrl.stats import performance as perf

METRICS = ("sharpe", "total_return", "max_drawdown")


class RichProgressCallback(BaseCallback):
    """A progress bar over the training steps (``quantrl.progress``; quiet when ``disable``)."""

    def __init__(self, total: int, description: str = "training", disable: bool = False) -> None:
        super().__init__()
        self.total = int(total)
        self.description = description
        self.disable = disable
        self._progress: ProgressBar | None = None
        self.completed = 0

    def _on_training_start(self) -> None:
        self._progress = ProgressBar(
            self.description, self.total, enabled=not self.disable, transient=True
        )

    def _on_step(self) -> bool:
        self.completed += self.training_env.num_envs
        if self._progress is not None:
            self._progress.update(self.completed)
        return True

    def _on_training_end(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


class EpisodeRecorder(BaseCallback):
    """The return and length of every finished training episode, in the order they end.

    Reads the ``episode`` record that ``Monitor`` (single envs) and ``SB3VecEnv`` (the batched
    env) put in the info of an episode's last step; within a step, environments in index order.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rewards: list[float] = []
        self.lengths: list[int] = []

    def _on_step(self) -> bool:
        for info in self.locals.get("infos") or ():
            episode = info.get("episode")
            if episode is not None:
                self.rewards.append(float(episode["r"]))
                self.lengths.append(int(episode["l"]))
        return True


def equity_metrics(equity: np.ndarray) -> dict[str, float]:
    """Sharpe, total return and max drawdown of an equity curve (first value = start)."""
    eq = np.asarray(equity, dtype=np.float64)
    r = eq[1:] / eq[:-1] - 1.0
    return {
        "sharpe": float(perf.sharpe_ratio(r)),
        "total_return": float(perf.total_return(r)),
        "max_drawdown": float(perf.max_drawdown(r)),
    }


class BacktestEvalCallback(BaseCallback):
    """Every ``eval_freq`` steps: backtest the deterministic policy on a fresh validation env.

    ``make_eval_env`` builds the env (a sequential, whole-split episode is what is measured);
    ``history`` holds one dict per evaluation (``timesteps``, ``sharpe``, ``total_return``,
    ``max_drawdown``). With ``save_path`` (and ``save_kwargs`` for ``persist.save``) the best model
    is written there; after ``patience`` evaluations without an improvement of ``metric`` larger
    than ``min_delta``, training stops.
    """

    def __init__(
        self,
        make_eval_env: Callable[[], Any],
        eval_freq: int,
        *,
        metric: str = "sharpe",
        patience: int | None = None,
        min_delta: float = 0.0,
        save_path: str | Path | None = None,
        save_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        if eval_freq < 1:
            raise ConfigError(f"eval_freq must be >= 1, got {eval_freq}")
        if patience is not None and patience < 1:
            raise ConfigError(f"patience must be >= 1 or None, got {patience}")
        self.make_eval_env = make_eval_env
        self.eval_freq = int(eval_freq)
        self.metric = metric
        self.patience = patience
        self.min_delta = float(min_delta)
        self.save_path = Path(save_path) if save_path is not None else None
        self.save_kwargs = dict(save_kwargs or {})
        self.history: list[dict[str, float]] = []
        self.best: float = -np.inf
        self.best_timesteps: int | None = None
        self.stale = 0
        self._last = 0

    def evaluate(self) -> dict[str, float]:
        """Backtest the current policy once on a fresh env; returns and records the metrics."""

        env = self.make_eval_env()
        traj = rollout(self.model, env)
        scores = {"timesteps": float(self.num_timesteps), **equity_metrics(traj["equity"])}
        self.history.append(scores)
        return scores

    def _score(self, scores: dict[str, float]) -> float:
        value = scores[self.metric]
        return -np.inf if not np.isfinite(value) else value

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last < self.eval_freq:
            return True
        self._last = self.num_timesteps
        scores = self.evaluate()
        value = self._score(scores)
        if self.verbose:
            print(
                f"eval @ {self.num_timesteps}: sharpe {scores['sharpe']:.3f} total return "
                f"{scores['total_return']:.3%} max drawdown {scores['max_drawdown']:.3%}"
            )
        if value > self.best + self.min_delta or self.best_timesteps is None:
            self.best = value
            self.best_timesteps = self.num_timesteps
            self.stale = 0
            if self.save_path is not None:
                extra = {"best_timesteps": self.num_timesteps, "best_scores": scores}
                save(self.model, self.save_path, extra=extra, **self.save_kwargs)
        else:
            self.stale += 1
        self.logger.record("eval/sharpe", scores["sharpe"])
        self.logger.record("eval/total_return", scores["total_return"])
        self.logger.record("eval/max_drawdown", scores["max_drawdown"])
        return self.patience is None or self.stale < self.patience


__all__ = [
    "METRICS",
    "BacktestEvalCallback",
    "EpisodeRecorder",
    "RichProgressCallback",
    "equity_metrics",
]
