"""The mining harness of a job spec: its data splits, vocabulary, pool, task and searcher.

Shared by single runs (``quantrl.jobs.runner``) and distributed miners
(``quantrl.jobs.distributed``), so both build exactly the same harness from one spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.data import load_market
from quantrl.data.splits import split_dates
from quantrl.errors import ConfigError, DataError
from quantrl.jobs.spec import JobSpec, search_vocabulary
from quantrl.jobs.store import METRICS, SPLITS
from quantrl.mining.baselines import GeneticSearch, RandomSearch
from quantrl.mining.env import MiningTask, RewardWeights
from quantrl.mining.pool import AlphaPool
from quantrl.mining.simplify import Simplifier
from quantrl.mining.tokens import Vocabulary
from quantrl.mining.train import PPOConfig, PPOMiner
from quantrl.stats.ic import ic_summary

__all__ = [
    "MiningSetup",
    "alpha_row",
    "build_harness",
    "build_setup",
    "load_splits",
    "make_pool",
    "make_searcher",
]

Searcher = Any  # PPOMiner | RandomSearch | GeneticSearch (same duck-typed interface)


def make_searcher(
    method: str,
    task: MiningTask,
    vocab: Vocabulary,
    *,
    seed: int = 0,
    ppo: PPOConfig | None = None,
    gp: dict[str, Any] | None = None,
) -> Searcher:
    """Build the searcher of a method: ``ppo`` (MaskablePPO), ``random`` or ``gp``."""
    if method == "ppo":
        return PPOMiner(task, vocab, config=ppo, seed=seed)
    if method == "random":
        return RandomSearch(task, vocab, seed=seed)
    if method == "gp":
        return GeneticSearch(task, vocab, seed=seed, **(gp or {}))
    raise ConfigError(f"unknown search method {method!r} (ppo, random, gp)")


@dataclass
class MiningSetup:
    """Panels, labels, vocabulary, harness and searcher of one job."""

    spec: JobSpec
    train: Any
    valid: Any
    test: Any
    labels: dict[str, np.ndarray]
    vocab: Vocabulary
    task: MiningTask
    searcher: Searcher
    caches: dict[str, EvalCache] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)  # quantrl.jobs.curve points
    best: dict[str, Any] | None = None  # the best chunk on validation (``[budget] keep``)

    def panel(self, split: str) -> Any:
        """Panel of a split name."""
        return {"train": self.train, "valid": self.valid, "test": self.test}[split]

    def pool_metrics(self, splits: tuple[str, ...] = ("train", "valid", "test")) -> dict:
        """IC, RankIC, ICIR, RankICIR of the pool's combined factor per split."""
        out = {}
        for s in splits:
            cache = self.caches.setdefault(s, EvalCache(max_bytes=256 << 20))
            if s == "train":
                cache = self.task.cache
            out[s] = self.task.pool.evaluate_on(self.panel(s), self.labels[s], cache=cache)
        return out

    def member_metrics(self) -> list[dict[str, Any]]:
        """Per-member metrics on every split (for the registry)."""
        caches = {
            s: self.task.cache if s == "train" else self.caches.setdefault(s, EvalCache(256 << 20))
            for s in SPLITS
        }
        panels = {s: self.panel(s) for s in SPLITS}
        pool = self.task.pool
        return [
            alpha_row(formula, float(weight), True, panels, self.labels, caches)
            for formula, weight in zip(pool.formulas, pool.weights, strict=True)
        ]


def alpha_row(
    formula: str,
    weight: float,
    in_pool: bool,
    panels: dict[str, Any],
    labels: dict[str, np.ndarray],
    caches: dict[str, EvalCache],
) -> dict[str, Any]:
    """Registry row of one formula: weight, pool membership, IC / RankIC / ICIRs on every split."""
    row: dict[str, Any] = {"formula": formula, "weight": weight, "in_pool": in_pool}
    for s in SPLITS:
        values = evaluate(formula, panels[s], cache=caches[s])
        summary = ic_summary(values, labels[s]).as_dict()
        for m in METRICS:
            row[f"{s}_{m}"] = float(summary[m])
    return row


def load_splits(spec: JobSpec) -> tuple[Any, Any, Any, dict[str, np.ndarray]]:
    """The job's market split into train / valid / test panels and their forward-return labels.

    The checks a spec cannot make without the market happen here, each a ConfigError naming the
    spec's table and key: the market loads, its symbols and the features exist, the split dates
    leave three non-empty splits, and the label horizon leaves labelled dates in every split.
    """
    try:
        panel = load_market(
            spec.market, start=spec.start, end=spec.end, symbols=list(spec.symbols) or None
        )
    except (ConfigError, DataError) as exc:
        key = "symbols" if getattr(exc, "rule", None) == "unknown symbol" else "market"
        raise ConfigError(f"[data] {key}: {exc}") from None
    if spec.max_symbols > 0:
        panel = panel.select(list(panel.symbols[: spec.max_symbols]))
    missing = [f for f in spec.features if f not in panel.field_names]
    if missing:
        raise ConfigError(
            f"[search] features: {missing} are not fields of {spec.market} "
            f"(has {list(panel.field_names)})"
        )
    try:
        if spec.valid_start and spec.test_start:
            vs, ts = spec.valid_start, spec.test_start
        else:
            vs, ts = split_dates(spec.market)
        train, valid, test = panel.split(vs, ts, warmup=spec.warmup)
    except (ConfigError, DataError) as exc:
        raise ConfigError(f"[data] valid_start/test_start: {exc}") from None
    h = spec.label_horizon
    splits = (("train", train), ("valid", valid), ("test", test))
    for name, part in splits:
        dates = part.n_dates - part.warmup
        if h >= dates:
            raise ConfigError(
                f"[data] label_horizon: {h} leaves no labelled date in the {name} split "
                f"({dates} dates); use a horizon below {dates}"
            )
    labels = {s: p.forward_returns(h) for s, p in splits}
    return train, valid, test, labels


def make_pool(
    spec: JobSpec, train: Any, valid: Any, labels: dict[str, np.ndarray], cache: Any = None
) -> AlphaPool:
    """The job's pool bound to the training split (and gated on the valid split if asked)."""
    pool = AlphaPool(
        spec.capacity,
        objective=spec.objective,
        mutual_threshold=spec.mutual_threshold,
        transform=spec.transform,
        blocks=spec.blocks,
        purge=spec.purge,
        neutralize=spec.neutralize,
        min_coverage=spec.min_coverage,
        date_step=spec.date_step,
        one_sided=spec.one_sided,
        idle_constants=spec.idle_constants,
        cv_gate=spec.cv_gate,
    )
    pool.bind(
        train, labels["train"], cache if cache is not None else EvalCache(max_bytes=128 << 20)
    )
    if spec.valid_gate:
        pool.bind_validation(valid, labels["valid"])
    return pool


def build_harness(
    spec: JobSpec,
    train: Any,
    valid: Any,
    labels: dict[str, np.ndarray],
    *,
    seed: int | None = None,
    method: str | None = None,
    operators: tuple[str, ...] | None = None,
) -> tuple[Vocabulary, MiningTask, Searcher]:
    """Vocabulary, pool, harness and searcher of a job (seed, method, operators overridable)."""
    vocab = search_vocabulary(spec, operators)
    cache = EvalCache(max_bytes=128 << 20)
    pool = make_pool(spec, train, valid, labels, cache)
    task = MiningTask(
        train,
        labels["train"],
        pool,
        cache=cache,
        subtree_penalty=spec.subtree_penalty,
        reward_basis=spec.reward,
        reward_weights=RewardWeights.from_value(getattr(spec, "reward_weights", None)),
        simplifier=(
            Simplifier(vocab, spec.simplify_tolerance, reach=spec.simplify_reach)
            if spec.simplify
            else None
        ),
    )
    searcher = make_searcher(
        method or spec.method,
        task,
        vocab,
        seed=spec.seed if seed is None else seed,
        ppo=spec.ppo,
        gp=spec.gp,
    )
    return vocab, task, searcher


def build_setup(spec: JobSpec) -> MiningSetup:
    """Load the market, split it, and build vocabulary, pool, harness and searcher."""
    train, valid, test, labels = load_splits(spec)
    vocab, task, searcher = build_harness(spec, train, valid, labels)
    return MiningSetup(spec, train, valid, test, labels, vocab, task, searcher)
