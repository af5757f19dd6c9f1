"""``train_agent``: train an agent on a quantrl environment's train split, evaluate, save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.monitor import Monitor

from quantrl.agents.callbacks import BacktestEvalCallback, RichProgressCallback
from quantrl.agents.factory import algo_name, canonical_env_id, env_class, make_agent
from quantrl.agents.persist import market_panel, save
from quantrl.errors import ConfigError

__all__ = ["DEFAULT_MARKETS", "TrainOutcome", "train_agent"]

DEFAULT_MARKETS = {
    "quantrl/Portfolio-v0": "dow30",
    "quantrl/ESGPortfolio-v0": "dow30",
    "quantrl/HFT-v0": "crypto_minute",
}
"""Market used when ``train_agent`` gets none."""


class TrainOutcome:
    """What ``train_agent`` produced: the model, its run folder and its learning curves."""

    def __init__(
        self,
        model: Any,
        run_path: Any,
        episode_rewards: list[float],
        eval_history: list[dict[str, float]],
        env_id: str,
        env_kwargs: dict[str, Any],
        market: Any,
    ) -> None:
        self.model = model
        self.run_path = run_path
        self.episode_rewards = episode_rewards
        self.eval_history = eval_history
        self.env_id = env_id
        self.env_kwargs = env_kwargs
        self.market = market


def train_agent(
    env_id: str = "quantrl/Portfolio-v0",
    *,
    algo: str = "ppo",
    timesteps: int = 5000,
    market: Any = None,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    split_dates: tuple[Any, Any] | None = None,
    out: Any = None,
    eval_freq: int | None = None,
    patience: int | None = None,
    metric: str = "sharpe",
    progress: bool = False,
    algo_kwargs: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Train ``algo`` on the train split of ``env_id``; optionally evaluate on valid and save.

    With ``out`` the final model goes to ``out/`` and (with ``eval_freq``) the best one on the
    validation split to ``out/best/``, both as run folders (``quantrl.agents.persist``).
    """

    if int(timesteps) < 1:
        raise ConfigError(f"timesteps must be >= 1, got {timesteps}")
    full_id = canonical_env_id(env_id)
    cls = env_class(full_id)
    market = market if market is not None else DEFAULT_MARKETS[full_id]
    kwargs = dict(env_kwargs or {})
    for reserved in ("split", "split_dates", "seed", "market", "sampling"):
        if reserved in kwargs:
            raise ConfigError(f"env_kwargs may not set {reserved!r}: train_agent chooses it")
    panel = market_panel(market, kwargs.pop("symbols", None))
    if env_kwargs and env_kwargs.get("symbols") is not None:
        kwargs["symbols"] = list(env_kwargs["symbols"])
    base_kw = {k: v for k, v in kwargs.items() if k != "symbols"}
    env = Monitor(cls(panel, split="train", split_dates=split_dates, seed=seed, **base_kw))
    save_kwargs = {
        "env_kwargs": kwargs,
        "market": market,
        "split_dates": split_dates,
        "env_id": full_id,
    }

    def make_eval_env() -> Any:
        kw = dict(base_kw)
        if full_id != "quantrl/HFT-v0":
            kw["episode_length"] = None
        return cls(panel, split="valid", split_dates=split_dates, sampling="sequential", **kw)

    model = make_agent(algo, env, seed=seed, **(algo_kwargs or {}))
    callbacks: list[Any] = []
    if progress:
        callbacks.append(RichProgressCallback(int(timesteps), f"{algo_name(algo)} {full_id}"))
    evaluator = None
    if eval_freq:
        evaluator = BacktestEvalCallback(
            make_eval_env,
            int(eval_freq),
            metric=metric,
            patience=patience,
            save_path=Path(out) / "best" if out is not None else None,
            save_kwargs=save_kwargs,
        )
        callbacks.append(evaluator)
    model.learn(int(timesteps), callback=callbacks or None)
    run_path = None
    if out is not None:
        extra = {"timesteps": int(model.num_timesteps), "seed": seed, "algo_kwargs": algo_kwargs}
        if evaluator is not None:
            extra["eval_history"] = evaluator.history
        run_path = save(model, out, extra=extra, **save_kwargs)
    return TrainOutcome(
        model=model,
        run_path=run_path,
        episode_rewards=[float(r) for r in env.get_episode_rewards()],
        eval_history=evaluator.history if evaluator is not None else [],
        env_id=full_id,
        env_kwargs=kwargs,
        market=market,
    )
