"""Mining job specifications: a TOML file validated by the tables of ``quantrl.jobs.schema``.

Format (every key but ``job.name`` has a default; relative paths are relative to the file)::

    [job]
    name = "sp500-small"            # letters, digits, '-', '_', '.'
    seed = 7                        # 0 .. 2**32 - 1
    output_dir = "runs/sp500-small" # checkpoints, pool.json, lock file
    registry = "runs/registry.sqlite"  # SQLite registry (default: <output_dir>/../registry.sqlite)
    schedule = "daily 02:00"        # see below; "" or "manual" = never due

    [data]
    market = "sp500"                # a bundled name or a file path (quantrl.load_market)
    start = "2013-02-08"            # optional date range (a string or a TOML date)
    end = "2018-02-07"
    symbols = []                    # optional explicit list (checked against the market)
    max_symbols = 0                 # > 0 keeps the first n symbols
    valid_start = "2016-07-01"      # default: the market's split (quantrl.data.splits)
    test_start = "2017-01-01"
    label_horizon = 20              # label = Ref($close, -h) / $close - 1 (1 .. 10000; every
                                    # split must keep labelled dates, checked at load)
    warmup = 250                    # history rows before valid/test for the features

    [search]
    method = "random"               # random | gp | ppo (random search: on the S&P 500 study
                                    # neither PPO nor GP beat it; see the README's benchmarks)
    operators = [...]               # default: AlphaGen's 22 (names of quantrl.alpha.ops)
    features = ["open", "high", "low", "close", "volume"]   # fields of the market
    windows = [10, 20, 30, 40, 50]  # distinct, 1 .. 10000
    constants = [-30, -10, ..., 30] # distinct finite numbers, |c| <= 1e6
    max_len = 20                    # 1 .. 128 tokens
    units = "on"                    # on: dimensionally sound formulas; off: any valid formula
    max_depth = 6                   # units on: deepest formula tree, 2 .. 64 (a feature is 1)
    subtree_penalty = 0.0           # frequent-subtree avoidance (0 = off)
    reward = "cv"                   # cv | marginal | net: the pool gain the PPO miner is paid

    [pool]
    capacity = 10
    objective = "ic"                # ic | rank_ic
    mutual_threshold = 0.99
    transform = "zscore"            # zscore | rank (per-date ranks of factors and label)
    blocks = 1                      # > 1: a candidate must gain in each block of train dates
    purge = 20                      # rows on each side of a held-out block left out of the
                                    # cross-validated fit (default: the label horizon)
    valid_gate = false              # true: a candidate must also raise the validation objective
    neutralize = []                 # exposure formulas, or "styles" (log price, log dollar
                                    # volume, volatility): factors are neutralised per date
    min_coverage = 0.5              # share of the label's cells a formula must be finite on
    date_step = 1                   # score candidates on every k-th training date (faster)
    one_sided = 0.999               # refuse a comparison taking one outcome on this share of
                                    # the training cells (an operand in disguise); 0 = off
    idle_constants = true           # refuse a formula whose factor a scaled constant leaves
                                    # as it was (a simpler formula in disguise)
    cv_gate = "off"                 # off | mean | every: also require a cross-validated gain
                                    # (blocks > 1, objective "ic"): on average over the held-out
                                    # blocks, or in every held-out block
    simplify = true                 # add an accepted formula in its simplest one-step deletion
                                    # the pool accepts as well (false: as offered)
    simplify_tolerance = 0.0        # share of the formula's gain a simpler form may lose
    simplify_reach = 1              # 2: also try forms two deletions away (shorter, slower)

    [budget]
    steps = 20000                   # env steps (tokens); 0 = no step limit
    minutes = 0.0                   # wall-clock limit; 0 = none (one of the two is required)
    checkpoint_minutes = 5.0        # checkpoint at the first chunk boundary after this long
    chunk_steps = 1024              # steps between chunk boundaries (rounded to PPO rollouts)
    keep = "last"                   # last | best_valid: the pool the job keeps, the last one
                                    # or the chunk's with the best validation RankIC (early
                                    # stopping; its validation figures are then chosen on)

    [ppo]                           # quantrl.mining.train.PPOConfig fields
    n_steps = 64                    # per env; n_envs = 8 envs share the pool

    [gp]                            # quantrl.mining.baselines.GeneticSearch settings
    population = 100

    [distributed]                   # optional: independent miners merged into one pool
    executor = "local"              # local (processes) | ray
    workers = 2                     # concurrent miners (ray: default = the cluster's CPUs)
    address = ""                    # ray only: "" starts a local Ray, "auto", "ray://host:10001"
    seeds = [0, 1, 2, 3]            # one miner per seed
    operator_sets = []              # optional lists of operators, assigned round-robin

Unknown tables and keys are refused; every error is one line naming the table and key. Checks
that need the market (symbols, features, label horizon against the split lengths) run where the
market is loaded (``quantrl.jobs.harness.load_splits``).

Schedule grammar (times are UTC): ``"daily HH:MM"`` is due once per day after HH:MM;
``"weekly DAY HH:MM"`` (DAY = mon..sun) once per week after that time; ``"every N[m|h|d]"``
(e.g. ``"every 6h"``, ``"every 30m"``; at most 3650 days) when at least N minutes/hours/days
have passed since the last run started; ``"manual"`` or empty: never due (run it with
``quantrl mine``). A job with an unfinished run is always due, so an interrupted run is resumed.

Spec digest: ``JobSpec.canonical`` is the validated spec (defaults filled in, names and formulas
normalised) as sorted JSON without the keys that do not change what a run computes
(``DIGEST_EXCLUDES``: the schedule, output and registry paths, how often to checkpoint, and which
executor / how many workers / which Ray cluster run the miners); ``JobSpec.digest`` is its
SHA-256. Checkpoints record both, and ``--resume`` refuses a checkpoint whose digest differs,
naming the changed keys; comments, key order and spelled-out defaults do not change the digest.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, model_validator

from quantrl.alpha.ops import ALPHAGEN_OPERATORS
from quantrl.errors import ConfigError
from quantrl.evaluation.comparison_shares import ONE_SIDED
from quantrl.executors.executor import EXECUTORS
from quantrl.jobs.schema import (
    Bool,
    DateText,
    Float,
    Int,
    JobName,
    Operators,
    PathText,
    Seed,
    Str,
    Table,
    Text,
    canonical_json,
    changed_keys,
    choice,
    distinct,
    finite,
    int_range,
    non_empty,
    read_toml,
    validate_spec,
)
from quantrl.mining.baselines import GeneticSearch
from quantrl.mining.env import REWARD_BASES
from quantrl.mining.neutral import exposure_formulas
from quantrl.mining.pool import CV_GATES
from quantrl.mining.tokens import DEFAULT_CONSTANTS, DEFAULT_WINDOWS, Vocabulary
from quantrl.mining.train import PPOConfig

__all__ = [
    "DIGEST_EXCLUDES",
    "KEEP_RULES",
    "JobFile",
    "JobSpec",
    "Schedule",
    "changed_keys",
    "load_spec",
    "parse_schedule",
    "spec_from_dict",
    "search_vocabulary",
]

METHODS = ("ppo", "random", "gp")
KEEP_RULES = ("last", "best_valid")
"""Which pool a job keeps: the last one, or the chunk's with the best validation RankIC."""
MAX_HORIZON = 10_000
"""Largest label horizon a spec may ask for (the split lengths are checked at load)."""
MAX_MINUTES = 10_000_000.0
"""Largest wall-clock budget in minutes (about 19 years)."""
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_INTERVAL = timedelta(days=3650)
_FEATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

DIGEST_EXCLUDES: dict[str, tuple[str, ...]] = {
    "job": ("schedule", "output_dir", "registry"),
    "budget": ("checkpoint_minutes",),
    "distributed": ("executor", "workers", "address"),
}
"""Keys left out of the spec digest: they change when or where a job runs, not its results."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: kind ``manual``, ``daily``, ``weekly`` or ``every``."""

    kind: str
    minute_of_day: int = 0
    weekday: int = 0
    interval: timedelta = timedelta(0)
    text: str = ""

    def last_slot(self, now: datetime) -> datetime | None:
        """The most recent scheduled time <= now (None for manual and interval schedules)."""
        if self.kind not in ("daily", "weekly"):
            return None
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        slot = day + timedelta(minutes=self.minute_of_day)
        if self.kind == "daily":
            return slot if slot <= now else slot - timedelta(days=1)
        back = (now.weekday() - self.weekday) % 7
        slot -= timedelta(days=back)
        return slot if slot <= now else slot - timedelta(days=7)

    def is_due(self, now: datetime, last_start: datetime | None) -> bool:
        """True when a run should start now given the start time of the job's last run."""
        if self.kind == "manual":
            return False
        if self.kind == "every":
            return last_start is None or now - last_start >= self.interval
        slot = self.last_slot(now)
        assert slot is not None
        return last_start is None or last_start < slot


def parse_schedule(text: str | None) -> Schedule:
    """Parse ``"daily HH:MM"``, ``"weekly DAY HH:MM"``, ``"every N[m|h|d]"`` or ``"manual"``."""
    raw = (text or "").strip().lower()
    if raw in ("", "manual", "never"):
        return Schedule("manual", text=raw or "manual")
    m = re.fullmatch(r"daily\s+(\d{1,2}):(\d{2})", raw)
    if m:
        return Schedule("daily", minute_of_day=_hhmm(m, text or ""), text=raw)
    m = re.fullmatch(r"weekly\s+([a-z]{3})\w*\s+(\d{1,2}):(\d{2})", raw)
    if m:
        day = m.group(1)
        if day not in _DAYS:
            raise ConfigError(f"schedule {text!r}: unknown weekday {day!r} (use mon..sun)")
        minute = _check_time(int(m.group(2)), int(m.group(3)), text or "")
        return Schedule("weekly", minute_of_day=minute, weekday=_DAYS.index(day), text=raw)
    m = re.fullmatch(r"every\s+(\d+)\s*([mhd])", raw)
    if m:
        n = int(m.group(1))
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        if n < 1 or n > _MAX_INTERVAL / timedelta(**{unit: 1}):
            raise ConfigError(f"schedule {text!r}: the interval must lie in 1 minute .. 3650 days")
        return Schedule("every", interval=timedelta(**{unit: n}), text=raw)
    raise ConfigError(
        f"schedule {text!r} not understood; use 'daily HH:MM', 'weekly DAY HH:MM', "
        "'every N[m|h|d]' or 'manual' (times in UTC)"
    )


def _hhmm(m: re.Match[str], text: str) -> int:
    return _check_time(int(m.group(1)), int(m.group(2)), text)


def _check_time(hour: int, minute: int, text: str) -> int:
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ConfigError(f"schedule {text!r}: invalid time {hour:02d}:{minute:02d}")
    return hour * 60 + minute


# --------------------------------------------------------------------------- tables


def _schedule_text(text: str) -> str:
    return parse_schedule(text).text


def _features(names: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(n.strip().lstrip("$") for n in names)
    for name in out:
        if not _FEATURE.fullmatch(name):
            raise ValueError(f"{name!r} is not a field name (letters, digits, '_')")
    if not out:
        raise ValueError("needs at least one feature")
    return out


def _neutralize(value: Any) -> tuple[str, ...]:
    ok = isinstance(value, str) or (
        isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    )
    if not ok:
        raise ValueError(f"must be 'styles', 'none' or a list of formulas, got {value!r}"[:200])
    try:
        return exposure_formulas(value if isinstance(value, str) else list(value))
    except ConfigError as exc:  # its messages start with the key's name, which is named already
        raise ValueError(
            str(exc).removeprefix("neutralize: ").removeprefix("neutralize ")
        ) from None


class JobTable(Table):
    """``[job]``: name, seed, where outputs go, when it runs."""

    name: JobName
    seed: Seed = 0
    output_dir: PathText = ""
    registry: PathText = ""
    schedule: Annotated[Str, AfterValidator(_schedule_text)] = "manual"


class DataTable(Table):
    """``[data]``: market, date range, symbols, split dates, label horizon, warm-up."""

    market: Text = "sp500"
    start: DateText = None
    end: DateText = None
    symbols: Annotated[tuple[Text, ...], distinct] = ()
    max_symbols: Annotated[Int, int_range(0, 1_000_000)] = 0
    valid_start: DateText = None
    test_start: DateText = None
    label_horizon: Annotated[Int, int_range(1, MAX_HORIZON)] = 20
    warmup: Annotated[Int, int_range(0, 100_000)] = 250

    @model_validator(mode="after")
    def _dates_in_order(self) -> DataTable:
        if (self.valid_start is None) != (self.test_start is None):
            raise ValueError("give both valid_start and test_start, or neither")
        keys = ("start", "valid_start", "test_start", "end")
        given = [(k, getattr(self, k)) for k in keys if getattr(self, k) is not None]
        for (a, va), (b, vb) in zip(given, given[1:], strict=False):
            if not datetime.fromisoformat(va) < datetime.fromisoformat(vb):
                raise ValueError(f"{a} {va} must be before {b} {vb}")
        return self


class SearchTable(Table):
    """``[search]``: method and the miner's vocabulary."""

    method: Annotated[Str, choice(METHODS)] = "random"
    operators: Operators = ALPHAGEN_OPERATORS
    features: Annotated[tuple[Str, ...], AfterValidator(_features), distinct] = (
        "open", "high", "low", "close", "volume",
    )  # fmt: skip
    windows: Annotated[tuple[Annotated[Int, int_range(1, 10_000)], ...], non_empty, distinct] = (
        DEFAULT_WINDOWS
    )
    constants: Annotated[tuple[Annotated[Float, finite(ge=-1e6, le=1e6)], ...], distinct] = (
        DEFAULT_CONSTANTS
    )
    max_len: Annotated[Int, int_range(1, 128)] = 20
    max_depth: Annotated[Int, int_range(2, 64)] = Vocabulary.max_depth
    units: Annotated[Str, choice(("on", "off"))] = "on"
    subtree_penalty: Annotated[Float, finite(ge=0, le=1e6)] = 0.0
    reward: Annotated[Str, choice(REWARD_BASES)] = "cv"

    @model_validator(mode="after")
    def _vocabulary(self) -> SearchTable:
        search_vocabulary(self)
        return self


def search_vocabulary(search: Any, operators: tuple[str, ...] | None = None) -> Vocabulary:
    """The miner's vocabulary of a ``[search]`` table or a ``JobSpec`` (same field names),
    ``operators`` replacing the spec's when given."""
    return Vocabulary(
        operators or search.operators, search.features, search.windows, search.constants,
        search.max_len, units=search.units, max_depth=search.max_depth,
    )  # fmt: skip


class PoolTable(Table):
    """``[pool]``: the alpha pool's size, objective and filters."""

    capacity: Annotated[Int, int_range(1, 1000)] = 10
    objective: Annotated[Str, choice(("ic", "rank_ic"))] = "ic"
    mutual_threshold: Annotated[Float, finite(gt=0, le=1)] = 0.99
    transform: Annotated[Str, choice(("zscore", "rank"))] = "zscore"
    blocks: Annotated[Int, int_range(1, 100)] = 1
    purge: Annotated[Int, int_range(0, MAX_HORIZON)] | None = None  # None: the label horizon
    valid_gate: Bool = False
    neutralize: Annotated[Any, AfterValidator(_neutralize)] = ()
    min_coverage: Annotated[Float, finite(ge=0, le=1)] = 0.5
    date_step: Annotated[Int, int_range(1, MAX_HORIZON)] = 1
    one_sided: Annotated[Float, finite(ge=0, le=1)] = ONE_SIDED
    idle_constants: Bool = True
    cv_gate: Annotated[Str, choice(CV_GATES)] = "off"
    simplify: Bool = True
    simplify_tolerance: Annotated[Float, finite(ge=0, lt=1)] = 0.0
    simplify_reach: Annotated[Int, int_range(1, 2)] = 1

    @model_validator(mode="after")
    def _one_sided_off_or_above_half(self) -> PoolTable:
        if self.one_sided != 0.0 and not self.one_sided > 0.5:
            raise ValueError(f"one_sided must be 0 (off) or lie in (0.5, 1], got {self.one_sided}")
        return self

    @model_validator(mode="after")
    def _cv_gate_needs_cross_validation(self) -> PoolTable:
        if self.cv_gate != "off" and (self.blocks < 2 or self.objective != "ic"):
            raise ValueError(
                f'cv_gate = "{self.cv_gate}" needs blocks >= 2 and objective = "ic", got '
                f'blocks = {self.blocks}, objective = "{self.objective}"'
            )
        return self


_NO_LIMIT = " (0 = no limit)"


class BudgetTable(Table):
    """``[budget]``: steps and minutes (one of them > 0), checkpoint interval, chunk size."""

    steps: Annotated[Int, int_range(0, 10**12)] = 20000
    minutes: Annotated[Float, finite(ge=0, le=MAX_MINUTES, note=_NO_LIMIT)] = 0.0
    checkpoint_minutes: Annotated[Float, finite(ge=0, le=MAX_MINUTES)] = 5.0
    chunk_steps: Annotated[Int, int_range(1, 10**9)] = 1024
    keep: Annotated[Str, choice(KEEP_RULES)] = "last"

    @model_validator(mode="after")
    def _some_budget(self) -> BudgetTable:
        if self.steps == 0 and self.minutes == 0:
            raise ValueError("needs steps > 0 or minutes > 0")
        return self


_PPO = PPOConfig()


class PPOTable(Table):
    """``[ppo]``: the fields of ``PPOConfig`` with bounds (defaults are PPOConfig's)."""

    n_steps: Annotated[Int, int_range(2, 1_000_000)] = _PPO.n_steps
    n_envs: Annotated[Int, int_range(1, 1024)] = _PPO.n_envs
    batch_size: Annotated[Int, int_range(2, 10**8)] = _PPO.batch_size
    n_epochs: Annotated[Int, int_range(1, 1000)] = _PPO.n_epochs
    learning_rate: Annotated[Float, finite(gt=0, le=1)] = _PPO.learning_rate
    ent_coef: Annotated[Float, finite(ge=0, le=100)] = _PPO.ent_coef
    gamma: Annotated[Float, finite(ge=0, le=1)] = _PPO.gamma
    gae_lambda: Annotated[Float, finite(ge=0, le=1)] = _PPO.gae_lambda
    clip_range: Annotated[Float, finite(gt=0, le=10)] = _PPO.clip_range
    d_model: Annotated[Int, int_range(1, 4096)] = _PPO.d_model
    n_layers: Annotated[Int, int_range(1, 64)] = _PPO.n_layers
    hidden: Annotated[Int, int_range(1, 4096)] = _PPO.hidden
    reward_scale: Annotated[Float, finite(gt=0, le=1e6)] = _PPO.reward_scale
    kind_prior: Bool = _PPO.kind_prior
    end_bias: Annotated[Float, finite(ge=-100, le=100)] = _PPO.end_bias
    threads: Annotated[Int, int_range(1, 1024)] = _PPO.threads

    @model_validator(mode="after")
    def _config(self) -> PPOTable:
        self.config()
        return self

    def config(self) -> PPOConfig:
        """The PPOConfig of these settings (its own cross-checks apply)."""
        return PPOConfig(**self.model_dump())


_GP = {
    k: p.default
    for k, p in inspect.signature(GeneticSearch.__init__).parameters.items()
    if p.default is not inspect.Parameter.empty
}


class GPTable(Table):
    """``[gp]``: GeneticSearch settings (defaults are GeneticSearch's)."""

    population: Annotated[Int, int_range(2, 100_000)] = _GP["population"]
    tournament: Annotated[Int, int_range(1, 100_000)] = _GP["tournament"]
    p_crossover: Annotated[Float, finite(ge=0, le=1)] = _GP["p_crossover"]
    p_subtree: Annotated[Float, finite(ge=0, le=1)] = _GP["p_subtree"]
    p_point: Annotated[Float, finite(ge=0, le=1)] = _GP["p_point"]

    @model_validator(mode="after")
    def _probabilities(self) -> GPTable:
        if self.p_crossover + self.p_subtree + self.p_point > 1.0:
            raise ValueError("p_crossover + p_subtree + p_point must not exceed 1")
        return self


class DistributedTable(Table):
    """``[distributed]``: independent miners (seeds, operator sets) and where they run."""

    executor: Annotated[Str, choice(EXECUTORS)] = "local"
    workers: Annotated[Int, int_range(1, 4096)] = 1
    address: PathText = ""
    seeds: Annotated[tuple[Seed, ...], distinct] = ()
    operator_sets: tuple[Operators, ...] = ()

    @model_validator(mode="after")
    def _address_for_ray(self) -> DistributedTable:
        if self.address and self.executor != "ray":
            raise ValueError(f"address {self.address!r} needs executor = 'ray'")
        return self


class JobFile(Table):
    """A whole job spec: one model per TOML table."""

    job: JobTable
    data: DataTable = DataTable()
    search: SearchTable = SearchTable()
    pool: PoolTable = PoolTable()
    budget: BudgetTable = BudgetTable()
    ppo: PPOTable = PPOTable()
    gp: GPTable = GPTable()
    distributed: DistributedTable = DistributedTable()

    @model_validator(mode="after")
    def _keep_needs_one_miner(self) -> JobFile:
        if self.budget.keep != "last" and self.distributed.seeds:
            raise ValueError(
                f'[budget] keep = "{self.budget.keep}" keeps one miner\'s chunk; [distributed] '
                'seeds merge several miners\' pools, so use keep = "last" there'
            )
        return self


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class JobSpec:
    """A validated mining job, flat (see the module docstring for the TOML layout)."""

    name: str
    seed: int
    output_dir: Path
    registry: Path
    schedule: Schedule
    market: str
    start: str | None
    end: str | None
    symbols: tuple[str, ...]
    max_symbols: int
    valid_start: str | None
    test_start: str | None
    label_horizon: int
    warmup: int
    method: str
    operators: tuple[str, ...]
    features: tuple[str, ...]
    windows: tuple[int, ...]
    constants: tuple[float, ...]
    max_len: int
    max_depth: int
    units: str
    subtree_penalty: float
    reward: str
    capacity: int
    objective: str
    mutual_threshold: float
    transform: str
    blocks: int
    purge: int
    valid_gate: bool
    neutralize: tuple[str, ...]
    min_coverage: float
    date_step: int
    one_sided: float
    idle_constants: bool
    cv_gate: str
    simplify: bool
    simplify_tolerance: float
    simplify_reach: int
    steps: int
    minutes: float
    checkpoint_minutes: float
    chunk_steps: int
    keep: str
    ppo: PPOConfig
    gp: dict[str, Any]
    executor: str
    workers: int
    address: str
    seeds: tuple[int, ...]
    operator_sets: tuple[tuple[str, ...], ...]
    source: Path | None = None
    canonical: str = ""
    digest: str = ""

    @property
    def checkpoint_path(self) -> Path:
        """Current checkpoint file (the previous good one is ``checkpoint.prev.ckpt``)."""
        return self.output_dir / "checkpoint.ckpt"

    @property
    def pool_path(self) -> Path:
        """Final (and latest) pool JSON."""
        return self.output_dir / "pool.json"

    @property
    def lock_path(self) -> Path:
        """Lock file guarding against concurrent runs."""
        return self.output_dir / "job.lock"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (paths as strings)."""
        out = asdict(self)
        out["output_dir"] = str(self.output_dir)
        out["registry"] = str(self.registry)
        out["schedule"] = self.schedule.text
        out["source"] = str(self.source) if self.source else None
        return out


def spec_from_dict(data: Any, *, base: Path | None = None) -> JobSpec:
    """Validate a parsed TOML mapping into a JobSpec (one-line ConfigError naming table and key)."""
    model = validate_spec(JobFile, data, what="job spec")
    return _flatten(model, base or Path.cwd())


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a job TOML file (ConfigError with the file, table and key)."""
    p, data = read_toml(path, what="job spec")
    try:
        spec = spec_from_dict(data, base=p.parent)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return replace(spec, source=p)


def _flatten(m: JobFile, base: Path) -> JobSpec:
    if m.pool.purge is None:  # resolved before the digest: "purge = <horizon>" digests the same
        m = m.model_copy(update={"pool": m.pool.model_copy(update={"purge": m.data.label_horizon})})
    job, data, search, pool, budget, dist = m.job, m.data, m.search, m.pool, m.budget, m.distributed
    out_dir = Path(job.output_dir or f"runs/{job.name}")
    out_dir = out_dir if out_dir.is_absolute() else base / out_dir
    registry = Path(job.registry) if job.registry else out_dir.parent / "registry.sqlite"
    registry = registry if registry.is_absolute() else base / registry
    excludes = DIGEST_EXCLUDES
    # a key at the value that behaves as before it existed digests as it did then
    before = {
        "pool": (
            ("date_step", pool.date_step == 1),
            ("one_sided", pool.one_sided == 0.0),
            ("idle_constants", not pool.idle_constants),
            ("cv_gate", pool.cv_gate == "off"),
            ("simplify", not pool.simplify),
            ("simplify_tolerance", pool.simplify_tolerance == 0.0),
            ("simplify_reach", pool.simplify_reach == 1),
        ),
        "search": (("max_depth", search.max_depth == 6), ("units", search.units == "on")),
        "budget": (("keep", budget.keep == "last"),),
    }
    for table, keys in before.items():
        same = tuple(key for key, unchanged in keys if unchanged)
        if same:
            excludes = {**excludes, table: (*excludes.get(table, ()), *same)}
    canonical = canonical_json(m, excludes)
    return JobSpec(
        name=job.name,
        seed=job.seed,
        output_dir=out_dir,
        registry=registry,
        schedule=parse_schedule(job.schedule),
        market=data.market,
        start=data.start,
        end=data.end,
        symbols=data.symbols,
        max_symbols=data.max_symbols,
        valid_start=data.valid_start,
        test_start=data.test_start,
        label_horizon=data.label_horizon,
        warmup=data.warmup,
        method=search.method,
        operators=search.operators,
        features=search.features,
        windows=search.windows,
        constants=search.constants,
        max_len=search.max_len,
        max_depth=search.max_depth,
        units=search.units,
        subtree_penalty=search.subtree_penalty,
        reward=search.reward,
        capacity=pool.capacity,
        objective=pool.objective,
        mutual_threshold=pool.mutual_threshold,
        transform=pool.transform,
        blocks=pool.blocks,
        purge=pool.purge,
        valid_gate=pool.valid_gate,
        neutralize=pool.neutralize,
        min_coverage=pool.min_coverage,
        date_step=pool.date_step,
        one_sided=pool.one_sided,
        idle_constants=pool.idle_constants,
        cv_gate=pool.cv_gate,
        simplify=pool.simplify,
        simplify_tolerance=pool.simplify_tolerance,
        simplify_reach=pool.simplify_reach,
        steps=budget.steps,
        minutes=budget.minutes,
        checkpoint_minutes=budget.checkpoint_minutes,
        chunk_steps=budget.chunk_steps,
        keep=budget.keep,
        ppo=m.ppo.config(),
        gp=m.gp.model_dump(),
        executor=dist.executor,
        workers=dist.workers,
        address=dist.address,
        seeds=dist.seeds,
        operator_sets=dist.operator_sets,
        canonical=canonical,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def utcnow() -> datetime:
    """Current time in UTC (timezone-aware)."""
    return datetime.now(UTC)
