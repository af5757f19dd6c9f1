"""AlphaPool: a linearly combined set of formula alphas, refitted in closed form on every change.

Definitions (train split, one row per date t, one column per symbol):

* the label universe S_t is the set of symbols whose label is finite on date t;
* a factor is standardised per date over its finite cells (mean 0, std 1, ``ddof=0``); missing
  cells, and dates with fewer than 2 finite cells or no variance, become 0 (the "neutral" value);
  the standardisation never looks at the label, so the combination is usable out of sample;
* the label is standardised per date over S_t;
* the weights solve the least-squares problem ``min_w sum_t sum_{n in S_t} (sum_i w_i z_itn -
  y_tn)^2`` in closed form (normal equations, with a tiny ridge ``ridge * trace / k`` that keeps
  them solvable when members are nearly collinear);
* the objective is the mean over dates of the cross-sectional Pearson correlation (``"ic"``) or
  Spearman correlation (``"rank_ic"``) between the combined factor ``sum_i w_i z_i`` and the raw
  label, over S_t.

The pool keeps per-date sums (``sum z_i``, ``sum z_i z_j``, ``sum z_i y``;
``quantrl.mining.pool_stats``) so that the IC of any weight vector, and the mutual correlation
of a candidate with every member, cost O(T k^2) after one pass over the candidate's values. The
candidate is written in place into one scratch array by the transform kernels, members live in
a (dates, capacity, symbols) buffer (a date's members side by side, read in one stream);
``timings`` holds the CPU seconds spent per stage of ``try_add`` (``evaluate``, ``transform``,
``neutralize``, ``fit``).

Adding a candidate (``try_add``): an identical formula, or one whose mean per-date correlation
with a member exceeds ``mutual_threshold`` in absolute value, is rejected; otherwise it joins,
the weights are refitted, and while the pool holds more than ``capacity`` members the member
with the smallest ``|weight|`` is dropped (as AlphaGen does) and the weights refitted again. The
change is kept only when the objective improves by more than ``min_gain``; otherwise the pool is
left as it was. The reported gain is the objective after minus before (it may be negative for a
rejected candidate). Before any of this, a simpler formula in disguise is refused unevaluated
for the reason ``quantrl.evaluation.formula_rules.formula_refusal`` gives (``"cancels"``,
``"idle guard"``, ``"decided"``, ``"shared core"``, ``"idle sign"``, ``"double negative"``,
``"negated"``: ``Div(Mul($close, $volume), $volume)`` is ``$close``, ``Std(Mul($high, -1), 40)``
is ``Std($high, 40)``); and a candidate whose values are finite on fewer than ``min_coverage``
(default half) of the label's cells is refused as ``"sparse"``: a factor defined for a handful
of stocks a day (a rolling correlation that is NaN wherever a window's spread is below its
epsilon, a log of a mostly negative quantity) ranks those few stocks among themselves and reads
as 0 elsewhere, so its training fit is noise that the pool would otherwise weight. A candidate with
a comparison that takes one outcome on at least ``one_sided`` (default 0.999) of the training
cells where it is defined is refused as ``"one-sided"``: ``Greater(Mul(Max(Med($close, 40),
50), 30), $high)`` is its first operand on every cell, an operand in disguise
(``quantrl.evaluation.comparison_shares``; 0 turns the check off). A candidate that passes
the training tests is refused as ``"idle constant"`` (``idle_constants``, default True) when
scaling one of its constants leaves its transformed training factor as it was:
``Div(Sub(Min(Max(Mul($low, 30), 20), 10), $high), $high)`` ranks stocks as the same formula
with 41.1 does, a simpler formula in disguise (``quantrl.evaluation.idle_constants``).

Five options aim at pools that generalise out of sample:

* ``transform="rank"`` replaces every factor, and the label the weights are fitted to, by its
  per-date percentile rank before standardising; monotone re-expressions of one factor
  (``$close``, ``Log($close)``) then coincide and are rejected as near-duplicates, and outliers
  cannot dominate the fit (the ``"ic"`` objective is then the correlation with the label's ranks);
* ``bind_validation(panel, label)`` attaches a validation split: a candidate that passes the
  training test is accepted only when the validation objective of the refitted pool (weights
  still fitted on train) rises by more than ``valid_min_gain``; ``AddResult.valid_gain`` reports
  the change. The test split is never seen;
* ``blocks=k`` cuts the training dates into ``k`` consecutive runs of equal length: a candidate
  is accepted only when the objective rises by more than ``min_gain`` in every run, not just on
  average (refused as ``"unstable"``), which keeps out factors that pay in one regime and lose
  in another. ``AddResult.worst_block_gain`` reports the smallest of the block gains for every
  candidate that reached the test, accepted or not (this test scores the weights fitted on every
  date, so nothing is held out and ``purge`` does not change it). The same blocks serve as folds
  of a cross-validated gain (``AddResult.marginal_cv_gain``, IC objective): for each block the
  weights are fitted on the other blocks and scored on that one. A label of horizon h at row t
  spans rows t .. t + h, so the labels of the h rows before a block reach into the block, and
  those of the h rows after it start inside its last labels' spans: fitted on, they leak the
  held-out returns. ``purge=p`` leaves out of each fold's fit the usable dates within p rows of
  the block on both sides (rows s - p .. s - 1 and e + 1 .. e + p for a block of rows s .. e),
  as ``quantrl.data.folds.purged_kfold_rows`` does with ``horizon=p``; ``purge`` equal to the
  label horizon removes every overlap, 0 (the default) purges nothing. ``cv_folds()`` returns
  the fitted and held-out rows of each fold;
* ``cv_gate="mean"`` or ``"every"`` (with ``blocks >= 2`` and the ``"ic"`` objective) also
  requires the cross-validated gain of the change, members dropped included, to exceed
  ``min_gain``: its mean over the held-out blocks, or its gain in every held-out block (the
  out-of-sample analogue of the block test); refused as ``"no cv gain"``, ``AddResult.cv_gain``
  holds the mean or the worst block's gain. A candidate whose in-sample gain comes from weights
  that do not carry over to a block left out of their fit is refused;
* ``neutralize=formulas`` regresses every factor, per date, on an intercept and those exposures
  (``quantrl.mining.neutral.DEFAULT_STYLE_EXPOSURES``: log price, log dollar volume, volatility)
  and keeps the re-standardised residual, on every split, so the pool is rewarded only for what a
  formula predicts beyond those styles, whose premia flip sign between regimes.

``t_gate="deflated"`` also requires the change's per-date gain (the per-date objective after it,
members dropped included, minus before; 0 for an empty pool) to have a Newey-West t (lags
``quantrl.stats.inference.ic_lags`` of the purge rows) above the expected maximum of n standard
normals, n the candidates offered so far (``n_tried``, this one included), as the deflated
Sharpe ratio deflates by its trials (``quantrl.stats.performance.expected_max_sharpe``): the
best of n noise candidates passes a fixed in-sample test, not this one. Refused as ``"not
significant"``; ``AddResult.gain_t`` holds the t wherever it was computed.

``date_step=k`` scores candidates on every k-th training date from the first (rows 0, k, 2k...):
formulas are still evaluated on every date (their windows need the history), but the rank
transform, the neutralisation and every sum run on 1/k of the dates. With an h-day label the
labels of neighbouring dates overlap by h - 1 days, so for k well below h little information is
lost and mining runs faster; ``purge`` stays in dates (``purge // k`` scored rows), the
validation gate and ``combined`` / ``evaluate_on`` use every date, and ``cv_folds()`` and the
per-date series index the scored rows. k = 1 (the default) scores every date.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from quantrl.alpha.engine import EvalCache, evaluate
from quantrl.alpha.expr import Expr
from quantrl.alpha.parser import parse
from quantrl.data.folds import Fold
from quantrl.errors import ConfigError
from quantrl.evaluation.comparison_shares import COMPARISONS, ONE_SIDED, comparison_shares
from quantrl.evaluation.formula_rules import formula_refusal
from quantrl.evaluation.idle_constants import idle_constants
from quantrl.kernels.cross_section import count_finite_in_nb, cs_rank_nb
from quantrl.kernels.projection import cross_sums, factor_sums, neutralize_rows_into
from quantrl.mining.blocks import PoolFolds, pool_folds
from quantrl.mining.neutral import Exposures, neutralize_rows
from quantrl.mining.pool_file import (
    pool_document,
    read_pool_file,
    saved_origins,
    saved_settings,
    write_pool_file,
)
from quantrl.mining.pool_stats import (
    LabelSums,
    PoolStats,
    cv_objectives,
    finite_mean,
    fit_weights,
    gain_t_stat,
)
from quantrl.mining.transforms import TRANSFORMS, standardize_rows, transform_rows
from quantrl.mining.validation_split import ValidationSplit, masked_combination
from quantrl.stats.ic import ic_summary, rank_ic_series
from quantrl.stats.performance import expected_max_sharpe

__all__ = [
    "AddResult",
    "AlphaPool",
]

OBJECTIVES = ("ic", "rank_ic")
#: ``cv_gate`` settings: no gate, the mean over held-out blocks, or the worst block.
CV_GATES = ("off", "mean", "every")
#: ``t_gate`` settings: no gate, or the change's gain t above the trials' expected maximum.
T_GATES = ("off", "deflated")


@dataclass(frozen=True)
class AddResult:
    """Outcome of offering a candidate to the pool."""

    formula: str
    accepted: bool
    gain: float
    objective: float
    reason: str
    single_ic: float = math.nan
    max_mutual: float = math.nan
    dropped: tuple[str, ...] = ()
    valid_gain: float = math.nan
    worst_block_gain: float = math.nan
    marginal_gain: float = math.nan
    marginal_cv_gain: float = math.nan
    cv_gain: float = math.nan
    gain_t: float = math.nan
    simplified: str = ""  # the simpler formula the pool kept in the candidate's place, if any


@dataclass
class _Member:
    expr: Expr
    z: np.ndarray  # (T, N) standardised, 0 outside the label universe (a view of the buffer)
    single_ic: float
    vz: np.ndarray | None = None  # the same on the validation panel, when one is bound
    slot: int = -1  # index of ``z`` in the pool's factor buffer


#: Stages of ``try_add`` whose CPU seconds ``AlphaPool.timings`` accumulates.
STAGES = ("evaluate", "transform", "neutralize", "fit")


class AlphaPool:
    """A capacity-limited linear combination of formula alphas fitted on one training panel."""

    def __init__(
        self,
        capacity: int = 10,
        *,
        objective: str = "ic",
        mutual_threshold: float = 0.99,
        min_gain: float = 0.0,
        ridge: float = 1e-8,
        transform: str = "zscore",
        valid_min_gain: float = 0.0,
        blocks: int = 1,
        purge: int = 0,
        neutralize: Sequence[str] = (),
        min_coverage: float = 0.5,
        date_step: int = 1,
        one_sided: float = ONE_SIDED,
        cv_gate: str = "off",
        t_gate: str = "off",
        idle_constants: bool = True,
    ) -> None:
        if capacity < 1:
            raise ConfigError(f"pool capacity must be >= 1, got {capacity}")
        if objective not in OBJECTIVES:
            raise ConfigError(f"pool objective must be one of {OBJECTIVES}, got {objective!r}")
        if not 0.0 < mutual_threshold <= 1.0:
            raise ConfigError(f"mutual_threshold must lie in (0, 1], got {mutual_threshold}")
        if transform not in TRANSFORMS:
            raise ConfigError(f"pool transform must be one of {TRANSFORMS}, got {transform!r}")
        if blocks < 1:
            raise ConfigError(f"blocks must be >= 1, got {blocks}")
        if ridge < 0:
            raise ConfigError(f"ridge must be >= 0, got {ridge}")
        if not 0.0 <= min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must lie in [0, 1], got {min_coverage}")
        if one_sided != 0.0 and not 0.5 < one_sided <= 1.0:
            raise ConfigError(f"one_sided must be 0 (off) or lie in (0.5, 1], got {one_sided}")
        if cv_gate not in CV_GATES:
            raise ConfigError(f"cv_gate must be one of {CV_GATES}, got {cv_gate!r}")
        if cv_gate != "off" and (blocks < 2 or objective != "ic"):
            raise ConfigError(
                "cv_gate needs blocks >= 2 and the 'ic' objective (the cross-validated gain is "
                f"defined for those), got blocks={blocks}, objective={objective!r}"
            )
        if t_gate not in T_GATES:
            raise ConfigError(f"t_gate must be one of {T_GATES}, got {t_gate!r}")
        if isinstance(purge, bool) or not isinstance(purge, int | np.integer) or purge < 0:
            raise ConfigError(f"purge must be an integer >= 0 (rows), got {purge!r}")
        if isinstance(date_step, bool) or not isinstance(date_step, int | np.integer):
            raise ConfigError(f"date_step must be an integer >= 1 (rows), got {date_step!r}")
        if date_step < 1:
            raise ConfigError(f"date_step must be an integer >= 1 (rows), got {date_step!r}")
        self.capacity = int(capacity)
        self.objective_name = objective
        self.mutual_threshold = float(mutual_threshold)
        self.min_gain = float(min_gain)
        self.ridge = float(ridge)
        self.transform = transform
        self.valid_min_gain = float(valid_min_gain)
        self.blocks = int(blocks)
        self.purge = int(purge)
        self.neutralize = tuple(str(parse(f)) for f in neutralize)
        self.min_coverage = float(min_coverage)
        self.date_step = int(date_step)
        self.one_sided = float(one_sided)
        self.cv_gate = cv_gate
        self.t_gate = t_gate
        self.idle_constants = bool(idle_constants)
        self._expo: Exposures | None = None
        self._panel: Any = None
        self._label: np.ndarray | None = None
        self._cache: EvalCache | None = None
        self._members: list[_Member] = []
        self.weights = np.zeros(0)
        self.objective = 0.0
        self.valid_objective = math.nan
        self._valid: ValidationSplit | None = None
        self.n_tried = 0
        self.n_accepted = 0
        self.version = 0  # bumped whenever members, weights or bound data change
        self.timings = dict.fromkeys(STAGES, 0.0)
        self._zbuf = np.zeros((0, 0, 0))  # (T, capacity, N): members
        self._zcand = np.zeros((0, 0))  # (T, N): the candidate
        self._cv_cache: tuple[int, list[float]] | None = None
        self._folds: PoolFolds | None = None
        self._pending: dict[str, tuple[int, AddResult, tuple]] = {}  # considered, not committed
        #: member formula -> the formula a searcher offered, for members added in a simpler form
        self.origins: dict[str, str] = {}

    # ------------------------------------------------------------------ binding
    def bind(self, panel: Any, label: np.ndarray, cache: EvalCache | None = None) -> AlphaPool:
        """Attach the training panel and its label (T, N); clears the members."""
        y = np.asarray(label, dtype=np.float64)
        shape = (int(panel.n_dates), int(panel.n_symbols))
        if y.shape != shape:
            raise ConfigError(f"label shape {y.shape} differs from the panel's {shape}")
        self._panel = panel
        self._cache = cache if cache is not None else EvalCache(max_bytes=256 << 20)
        self._expo = self._exposures(panel, self._cache)
        if self.date_step > 1:  # score on every date_step-th date from the first
            y = np.ascontiguousarray(y[:: self.date_step])
            shape = y.shape
            if self._expo is not None:
                self._expo = self._expo.every(self.date_step)
        self._label = y
        self._universe = np.isfinite(y)
        self._cells = int(self._universe.sum())  # the label's cells, coverage's denominator
        self._n = self._universe.sum(axis=1).astype(np.float64)  # (T,)
        if self.transform == "rank":  # fit to (and score against) the label's per-date ranks
            y = np.where(self._universe, cs_rank_nb(np.ascontiguousarray(y)), np.nan)
        self._y_std = standardize_rows(y)
        y0 = np.where(self._universe, y, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = y0.sum(axis=1) / self._n
        self._y_c = np.where(self._universe, y - mean[:, None], 0.0)  # centred raw label
        self._y_ss = (self._y_c * self._y_c).sum(axis=1)  # (T,)
        self._dates_ok = (self._n >= 2) & (self._y_ss > 0)
        self._label_sums = LabelSums(self._n, self._y_ss, self._dates_ok)
        try:
            self._folds = pool_folds(self._dates_ok, self.blocks, self._purge_rows)
        except ConfigError:
            self._label = None  # left unbound
            raise
        self._members = []
        self._zbuf = np.zeros((shape[0], self.capacity, shape[1]))
        self._zcand = np.zeros(shape)
        self._stats = PoolStats.empty(self._label.shape[0])
        self.weights = np.zeros(0)
        self.objective = 0.0
        self._current = np.full(self._n.shape, np.nan)  # per-date objective of the members
        self.valid_objective = 0.0 if self._valid is not None else math.nan
        self.version += 1
        return self

    def bind_validation(
        self, panel: Any, label: np.ndarray, cache: EvalCache | None = None
    ) -> AlphaPool:
        """Attach a validation panel and label that every accepted candidate must improve."""
        self._require_bound()
        if self._members:
            raise ConfigError("bind the validation split before adding members")
        self._valid = ValidationSplit.bind(
            panel, label, symbols=self._panel.symbols, transform=self.transform, cache=cache,
            exposures=self._exposures,
        )  # fmt: skip
        self.valid_objective = 0.0
        self.version += 1
        return self

    @property
    def has_validation(self) -> bool:
        """True when a validation split gates acceptance."""
        return self._valid is not None

    def _valid_z(self, expr: Expr) -> np.ndarray:
        assert self._valid is not None
        return self._valid.factor(expr, self._factor_rows)

    def _valid_objective(self, vzs: Sequence[np.ndarray], w: np.ndarray) -> float:
        """Validation objective of the combination ``w`` of validation-panel factors."""
        assert self._valid is not None
        return self._valid.objective(vzs, w, self.objective_name)

    @property
    def _purge_rows(self) -> int:
        """``purge`` in scored rows: the scored rows within ``purge`` dates of a block are the
        ``purge // date_step`` nearest on each side."""
        return self.purge // self.date_step

    def _train_values(self, expr: Expr | str) -> np.ndarray:
        """A formula's values on the training panel, on the scored dates only."""
        values = evaluate(expr, self._panel, cache=self._cache)
        if self.date_step > 1:
            values = np.ascontiguousarray(values[:: self.date_step])
        return values

    def _require_bound(self) -> None:
        if self._label is None:
            raise ConfigError("AlphaPool is not bound to a panel: call pool.bind(panel, label)")

    # ------------------------------------------------------------------ members
    @property
    def size(self) -> int:
        """Number of members."""
        return len(self._members)

    def __len__(self) -> int:
        return len(self._members)

    @property
    def formulas(self) -> list[str]:
        """Canonical formulas of the members, in pool order."""
        return [str(m.expr) for m in self._members]

    @property
    def exprs(self) -> list[Expr]:
        """Expression trees of the members, in pool order."""
        return [m.expr for m in self._members]

    def __contains__(self, formula: object) -> bool:
        key = str(parse(formula)) if isinstance(formula, (str, Expr)) else None
        return key is not None and key in self.formulas

    def standardized(self, formula: str | Expr) -> np.ndarray:
        """Per-date standardised values of a formula on the training panel, masked to the label."""
        self._require_bound()
        values = self._train_values(formula)
        return self._factor_rows(values, self._expo, universe=self._universe)

    def _keep(self, members: list[_Member]) -> None:
        """Copy a newly joined member (still in the candidate's scratch array) into a free slot."""
        used = {m.slot for m in members if m.slot >= 0}
        for m in members:
            if m.slot < 0:
                m.slot = next(i for i in range(self.capacity) if i not in used)
                used.add(m.slot)
                self._zbuf[:, m.slot, :] = m.z
                m.z = self._zbuf[:, m.slot, :]

    def _candidate_z(self, values: np.ndarray) -> np.ndarray:
        """Write the candidate's standardised factor into the scratch array (timed by stage)."""
        clock = time.process_time
        t1 = clock()
        out = self._zcand
        expo = self._expo
        if expo is None:
            transform_rows(values, self.transform, out=out, universe=self._universe)
            t3 = t2 = clock()
        else:
            transform_rows(values, self.transform, out=out)
            t2 = clock()
            neutralize_rows_into(
                values, out, expo.ok, expo.design, expo.gram, expo.gram_inv, out, self._universe
            )
            t3 = clock()
        self.timings["transform"] += t2 - t1
        self.timings["neutralize"] += t3 - t2
        return out

    def _exposures(self, panel: Any, cache: EvalCache) -> Exposures | None:
        if not self.neutralize:
            return None
        return Exposures(self.neutralize, panel, transform=self.transform, cache=cache)

    def _factor_rows(
        self, values: np.ndarray, expo: Exposures | None, universe: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-date transformed (and, with exposures, neutralised) factor; 0 where missing and,
        with ``universe``, outside it."""
        if expo is None:
            return transform_rows(values, self.transform, universe=universe)
        return neutralize_rows(values, expo, self.transform, universe=universe)

    def _candidate_stats(self) -> tuple[np.ndarray, ...]:
        """The candidate's own per-date sums (s, zz, b, c)."""
        return factor_sums(self._zcand, self._y_std, self._y_c)

    def _candidate_cross(self) -> np.ndarray:
        """Per-date sums of the candidate times each member (T, k)."""
        members = np.asarray([m.slot for m in self._members], dtype=np.int64)
        return cross_sums(self._zbuf, self._zcand, members)

    def _series(self, st: PoolStats, w: np.ndarray, zs: Sequence[np.ndarray]) -> np.ndarray:
        """Per-date objective (IC or RankIC) of the combination ``w``; NaN where undefined."""
        if w.size == 0:
            return np.full(self._n.shape, np.nan)
        if self.objective_name == "ic":
            return self._label_sums.ic(st, w)
        return rank_ic_series(masked_combination(zs, w, self._universe), self._label)

    def cv_folds(self) -> list[Fold]:
        """Per block: the usable rows its cross-validation fit uses (the other blocks minus the
        ``purge`` rows on each side of it) and the block's rows."""
        self._require_bound()
        assert self._folds is not None
        return self._folds.fold_rows(self._dates_ok)

    def _block_means(self, series: np.ndarray) -> np.ndarray:
        """Mean of a per-date series over ``blocks`` consecutive, equally long runs of dates."""
        assert self._folds is not None
        return np.array([finite_mean(series[idx]) for idx in self._folds.parts])

    def _cv_block_gains(self, joined: PoolStats, current: PoolStats) -> np.ndarray | None:
        """Per block, the out-of-block IC gain, weights fitted on the other blocks (less the
        ``purge`` rows on each side of the held-out block); None without cross-validation.

        Normal equations of "every block but b" are the sums over all usable dates minus the
        block's own and minus its purged neighbours'; the members' side (``current``) is
        computed once per pool version.
        """
        if self.blocks < 2 or self.objective_name != "ic":
            return None
        folds = self._folds
        assert folds is not None
        after = cv_objectives(joined, folds, self._label_sums, self.ridge)
        cached = self._cv_cache
        if cached is None or cached[0] != self.version:
            before = [0.0] * self.blocks  # no member: every block's objective is 0
            if current.size:
                before = cv_objectives(current, folds, self._label_sums, self.ridge)
            cached = self._cv_cache = (self.version, before)
        return np.array([a - b for a, b in zip(after, cached[1], strict=True)])

    # ------------------------------------------------------------------ adding
    def try_add(self, formula: str | Expr, *, commit: bool = True) -> AddResult:
        """Offer a formula: accept it when it is new, not a near-duplicate and raises the objective.

        With ``commit=False`` a candidate that passes every test is not added: the result says
        ``"pending"`` and ``commit(formula)`` adds it while the pool is unchanged.
        """
        self._require_bound()
        self.n_tried += 1
        expr = parse(formula)
        key = str(expr)
        before = self.objective
        if key in self.formulas:
            ic = self._members[self.formulas.index(key)].single_ic
            return AddResult(key, False, 0.0, before, "duplicate", ic, 1.0)
        refusal = formula_refusal(expr)
        if refusal is not None:
            return AddResult(key, False, 0.0, before, refusal[0])
        t0 = time.process_time()
        values = self._train_values(expr)
        self.timings["evaluate"] += time.process_time() - t0
        if count_finite_in_nb(values, self._universe) < self.min_coverage * self._cells:
            return AddResult(key, False, 0.0, before, "sparse")
        if self.one_sided and self._one_sided(expr):
            return AddResult(key, False, 0.0, before, "one-sided")
        z = self._candidate_z(values)
        start = time.process_time()
        try:
            return self._judge_candidate(expr, key, before, z, commit)
        finally:
            self.timings["fit"] += time.process_time() - start

    def _one_sided(self, expr: Expr) -> bool:
        """Whether a comparison in ``expr`` takes one outcome on at least ``one_sided`` of the
        training cells where it is defined (its operands come from the evaluation cache)."""
        if not any(node.name in COMPARISONS for node in expr.walk() if node.kind == "op"):
            return False
        start = time.process_time()
        shares = comparison_shares(expr, self._panel, cache=self._cache)
        self.timings["evaluate"] += time.process_time() - start
        return any(item.share >= self.one_sided for item in shares)

    def _has_idle_constant(self, expr: Expr) -> bool:
        """Whether scaling a constant of ``expr`` leaves its transformed training factor as it
        was (``quantrl.evaluation.idle_constants``; compared on the label's cells when every date
        is scored, else on all cells)."""
        start = time.process_time()
        universe = self._universe if self.date_step == 1 else None
        found = idle_constants(
            expr, self._panel, transform=self.transform, universe=universe, cache=self._cache
        )
        self.timings["evaluate"] += time.process_time() - start
        return bool(found)

    def _judge_candidate(
        self, expr: Expr, key: str, before: float, z: np.ndarray, commit: bool = True
    ) -> AddResult:
        s, zz, b, c = self._candidate_stats()
        single = self._label_sums.ic(PoolStats.single(s, zz, b, c), np.ones(1))
        single_ic = finite_mean(single, math.nan)
        if np.isfinite(single).sum() < max(2, int(0.1 * self._dates_ok.sum())):
            return AddResult(key, False, 0.0, before, "degenerate", single_ic)
        cross = self._candidate_cross()  # the members are read only for a real candidate
        st = self._stats.grow(s, zz, cross, b, c)
        k = st.size - 1
        mutual = st.mutual(k, self._n)[:k]
        max_mutual = float(np.max(np.abs(mutual))) if k else 0.0
        if k and max_mutual > self.mutual_threshold:
            return AddResult(key, False, 0.0, before, "near-duplicate", single_ic, max_mutual)
        members = [*self._members, _Member(expr, z, single_ic)]
        w = fit_weights(st, self.ridge)
        # the candidate's marginal value: the objective with it joined, before any member drops
        joined = self._series(st, w, [m.z for m in members])
        marginal = finite_mean(joined) - before
        cv_gains = self._cv_block_gains(st, self._stats)
        marginal_cv = math.nan if cv_gains is None else float(np.mean(cv_gains))
        dropped: list[str] = []
        while len(members) > self.capacity:
            worst = int(np.argmin(np.abs(w)))
            dropped.append(str(members[worst].expr))
            keep = [i for i in range(len(members)) if i != worst]
            members = [members[i] for i in keep]
            st = st.take(keep)
            w = fit_weights(st, self.ridge)
        series = self._series(st, w, [m.z for m in members]) if dropped else joined
        after = finite_mean(series)
        gain = after - before
        if key in dropped or not gain > self.min_gain:
            reason = "dropped" if key in dropped else "no gain"
            return AddResult(
                key, False, gain, before, reason, single_ic, max_mutual,
                marginal_gain=marginal, marginal_cv_gain=marginal_cv,
            )  # fmt: skip
        worst = math.nan
        if self.blocks > 1:
            block_gain = self._block_means(series) - self._block_means(self._current)
            worst = float(block_gain.min())
            if not worst > self.min_gain:
                return AddResult(
                    key, False, gain, before, "unstable", single_ic, max_mutual,
                    worst_block_gain=worst, marginal_gain=marginal, marginal_cv_gain=marginal_cv,
                )  # fmt: skip
        gain_t = math.nan
        if self.t_gate != "off":  # the change's per-date gain against the trials' best noise
            before_rows = self._current if self._members else np.zeros_like(series)
            gain_t = gain_t_stat(series, before_rows, max(1, self._purge_rows))
            if not gain_t > expected_max_sharpe(max(1, self.n_tried), 1.0):
                return AddResult(
                    key, False, gain, before, "not significant", single_ic, max_mutual,
                    worst_block_gain=worst, marginal_gain=marginal, marginal_cv_gain=marginal_cv,
                    gain_t=gain_t,
                )  # fmt: skip
        cv_change = math.nan
        if self.cv_gate != "off":  # the change as it would stand, members dropped included
            if dropped:
                cv_gains = self._cv_block_gains(st, self._stats)
            assert cv_gains is not None
            cv_change = float(cv_gains.mean() if self.cv_gate == "mean" else cv_gains.min())
            if not cv_change > self.min_gain:
                return AddResult(
                    key, False, gain, before, "no cv gain", single_ic, max_mutual,
                    worst_block_gain=worst, marginal_gain=marginal, marginal_cv_gain=marginal_cv,
                    cv_gain=cv_change, gain_t=gain_t,
                )  # fmt: skip
        if self.idle_constants and self._has_idle_constant(expr):
            return AddResult(
                key, False, gain, before, "idle constant", single_ic, max_mutual,
                worst_block_gain=worst, marginal_gain=marginal, marginal_cv_gain=marginal_cv,
                cv_gain=cv_change, gain_t=gain_t,
            )  # fmt: skip
        valid_after = math.nan
        if self._valid is not None:
            members[-1].vz = self._valid_z(expr)
            valid_after = self._valid_objective([m.vz for m in members], w)  # type: ignore[misc]
            valid_gain = valid_after - self.valid_objective
            if not valid_gain > self.valid_min_gain:
                return AddResult(
                    key, False, gain, before, "no valid gain", single_ic, max_mutual,
                    valid_gain=valid_gain, worst_block_gain=worst, marginal_gain=marginal,
                    marginal_cv_gain=marginal_cv, cv_gain=cv_change, gain_t=gain_t,
                )  # fmt: skip
        valid_gain = valid_after - self.valid_objective
        result = AddResult(
            key, True, gain, after, "accepted", single_ic, max_mutual, tuple(dropped), valid_gain,
            worst, marginal, marginal_cv, cv_change, gain_t,
        )  # fmt: skip
        state = (members, st, w, after, series, valid_after)
        if commit:
            return self._apply(result, state)
        members[-1].z = z.copy()  # the scratch array is the next candidate's
        if any(v != self.version for v, _, _ in self._pending.values()):
            self._pending.clear()  # considered before a change: they can no longer be committed
        self._pending[key] = (self.version, result, state)
        return replace(result, accepted=False, reason="pending")

    def commit(self, formula: str | Expr, *, offered: str | Expr | None = None) -> AddResult:
        """Add a candidate that ``try_add(formula, commit=False)`` found acceptable, unchanged;
        ``offered`` is the formula a searcher wrote when this one is its simpler form."""
        key = str(parse(formula))
        pending = self._pending.get(key)
        if pending is None or pending[0] != self.version:
            raise ConfigError(
                f"{key} is not pending: offer it with try_add(commit=False) since the pool's "
                "last change"
            )
        result = self._apply(pending[1], pending[2])
        if offered is not None and str(offered) != key:
            self.origins[key] = str(offered)
        return result

    def _apply(self, result: AddResult, state: tuple) -> AddResult:
        """Make an accepted change: members, sums, weights and objectives."""
        members, st, w, after, series, valid_after = state
        self._keep(members)
        kept = {str(m.expr) for m in members}
        self.origins = {f: o for f, o in self.origins.items() if f in kept}
        self._members, self._stats, self.weights, self.objective = members, st, w, after
        self._current = series
        self.valid_objective = valid_after
        self.n_accepted += 1
        self.version += 1
        self._pending.clear()
        return result

    def restore(self, formulas: Sequence[str], weights: Sequence[float] | None = None) -> None:
        """Rebuild members from formulas in order (no acceptance test), then refit or set weights
        (``origins`` is cleared: set it afterwards for members added in a simpler form)."""
        self._require_bound()
        if len(formulas) > self.capacity:
            raise ConfigError(f"{len(formulas)} formulas exceed the pool capacity {self.capacity}")
        self._members = []
        self._stats = PoolStats.empty(self._label.shape[0])
        for f in formulas:
            expr = parse(f)
            z = self._candidate_z(self._train_values(expr))
            s, zz, b, c = self._candidate_stats()
            cross = self._candidate_cross()
            single = self._label_sums.ic(PoolStats.single(s, zz, b, c), np.ones(1))
            self._stats = self._stats.grow(s, zz, cross, b, c)
            vz = self._valid_z(expr) if self._valid is not None else None
            single_ic = finite_mean(single, math.nan)
            self._members.append(_Member(expr, z, single_ic, vz))
            self._keep(self._members)
        self.origins = {}
        w = (
            fit_weights(self._stats, self.ridge)
            if weights is None
            else np.asarray(weights, dtype=np.float64)
        )
        if w.shape != (len(self._members),):
            raise ConfigError(f"{len(self._members)} formulas but {w.size} weights")
        self.weights = w
        self.version += 1
        self._current = self._series(self._stats, w, [m.z for m in self._members])
        self.objective = finite_mean(self._current)
        if self._valid is not None:
            vzs = [m.vz for m in self._members]
            self.valid_objective = self._valid_objective(vzs, w)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ evaluation
    def single_ics(self) -> list[float]:
        """Training IC of each member alone."""
        return [m.single_ic for m in self._members]

    def combined(self, panel: Any, *, cache: EvalCache | None = None) -> np.ndarray:
        """Combined factor of the pool on any panel (NaN where no member has a value)."""
        if not self._members:
            raise ConfigError("the pool is empty")
        memo = cache if cache is not None else EvalCache(max_bytes=256 << 20)
        values = [evaluate(m.expr, panel, cache=memo) for m in self._members]
        expo = self._exposures(panel, memo)
        out = np.zeros(np.shape(values[0]), dtype=np.float64)
        for v, w in zip(values, self.weights, strict=True):
            out += float(w) * self._factor_rows(v, expo)
        any_finite = np.zeros(out.shape, dtype=bool)
        for v in values:
            any_finite |= np.isfinite(v)
        return np.where(any_finite, out, np.nan)

    def evaluate_on(
        self, panel: Any, label: np.ndarray, *, cache: EvalCache | None = None
    ) -> dict[str, float]:
        """IC, RankIC, ICIR and RankICIR of the combined factor against a label on a panel."""
        if not self._members:
            return {"ic": math.nan, "rank_ic": math.nan, "icir": math.nan, "rank_icir": math.nan}
        combo = self.combined(panel, cache=cache)
        summary = ic_summary(combo, label).as_dict()
        return {k: float(summary[k]) for k in ("ic", "rank_ic", "icir", "rank_icir")}

    # ------------------------------------------------------------------ persistence
    def to_dict(self, metrics: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
        """JSON-ready description: settings, formulas, weights, single ICs and split metrics."""
        members = [
            {"formula": str(m.expr), "weight": float(w), "train_ic": m.single_ic}
            for m, w in zip(self._members, self.weights, strict=True)
        ]
        return pool_document(self, members, metrics)

    def save(
        self,
        path: str | Path,
        metrics: dict[str, dict[str, float]] | None = None,
        *,
        selection: dict[str, Any] | None = None,
    ) -> None:
        """Write the pool as JSON atomically (temp file + rename); ``selection`` (how a job
        chose this pool among its chunks) is written under that key when given."""
        data = self.to_dict(metrics)
        if selection is not None:
            data["selection"] = selection
        write_pool_file(path, data)

    @staticmethod
    def read(path: str | Path) -> dict[str, Any]:
        """Read a saved pool's JSON (formulas, weights, metrics) without binding a panel."""
        return read_pool_file(path)

    @classmethod
    def load(
        cls, path: str | Path, panel: Any = None, label: np.ndarray | None = None
    ) -> AlphaPool:
        """Load a saved pool; with a panel and label, bind it and restore members and weights."""
        data = cls.read(path)
        pool = cls(int(data["capacity"]), **saved_settings(data))
        formulas = [m["formula"] for m in data["members"]]
        weights = [float(m["weight"]) for m in data["members"]]
        if panel is not None and label is not None:
            pool.bind(panel, label)
            pool.restore(formulas, weights)
        else:
            pool._members = [
                _Member(parse(f), np.zeros((0, 0)), m.get("train_ic", math.nan))
                for f, m in zip(formulas, data["members"], strict=True)
            ]
            pool.weights = np.asarray(weights, dtype=np.float64)
            pool.objective = float(data.get("train_objective", 0.0))
        pool.origins = saved_origins(data)
        return pool
