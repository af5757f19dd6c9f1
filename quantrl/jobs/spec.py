"""Mining job specifications: a TOML file read with ``tomllib`` and validated.

Format (every key but ``job.name`` has a default; relative paths are relative to the file)::

    [job]
    name = "sp500-small"            # letters, digits, '-', '_', '.'
    seed = 7
    output_dir = "runs/sp500-small" # checkpoints, pool.json, lock file
    registry = "runs/registry.sqlite"  # SQLite registry (default: <output_dir>/../registry.sqlite)
    schedule = "daily 02:00"        # see below; "" or "manual" = never due

    [data]
    market = "sp500"                # a bundled name or a file path (quantrl.load_market)
    start = "2013-02-08"            # optional date range
    end = "2018-02-07"
    symbols = []                    # optional explicit list
    max_symbols = 0                 # > 0 keeps the first n symbols
    valid_start = "2016-07-01"      # default: the market's split (quantrl.data.splits)
    test_start = "2017-01-01"
    label_horizon = 20              # label = Ref($close, -h) / $close - 1
    warmup = 250                    # history rows before valid/test for the features

    [search]
    method = "ppo"                  # ppo | random | gp
    operators = [...]               # default: AlphaGen's 22
    features = ["open", "high", "low", "close", "volume"]
    windows = [10, 20, 30, 40, 50]
    constants = [-30, -10, ..., 30]
    max_len = 20
    subtree_penalty = 0.0           # frequent-subtree avoidance (0 = off)
    reward = "cv"                   # cv | marginal | net: the pool gain the PPO miner is paid

    [pool]
    capacity = 10
    objective = "ic"                # ic | rank_ic
    mutual_threshold = 0.99
    transform = "zscore"            # zscore | rank (per-date ranks of factors and label)
    blocks = 1                      # > 1: a candidate must gain in each block of train dates
    valid_gate = false              # true: a candidate must also raise the validation objective
    neutralize = []                 # exposure formulas, or "styles" (log price, log dollar
                                    # volume, volatility): factors are neutralised per date

    [budget]
    steps = 20000                   # env steps (tokens); 0 = no step limit
    minutes = 0.0                   # wall-clock limit; 0 = none (one of the two is required)
    checkpoint_minutes = 5.0        # checkpoint at the first chunk boundary after this long
    chunk_steps = 1024              # steps between chunk boundaries (rounded to PPO rollouts)

    [ppo]                           # quantrl.mining.train.PPOConfig fields
    n_steps = 64                    # per env; n_envs = 8 envs share the pool

    [distributed]                   # optional: independent miners merged into one pool
    executor = "local"              # local (processes) | ray
    workers = 2                     # concurrent miners (ray: default = the cluster's CPUs)
    address = ""                    # ray only: "" starts a local Ray, "auto", "ray://host:10001"
    seeds = [0, 1, 2, 3]            # one miner per seed
    operator_sets = []              # optional lists of operators, assigned round-robin

Schedule grammar (times are UTC): ``"daily HH:MM"`` is due once per day after HH:MM;
``"weekly DAY HH:MM"`` (DAY = mon..sun) once per week after that time; ``"every N[m|h|d]"``
(e.g. ``"every 6h"``, ``"every 30m"``) when at least N minutes/hours/days have passed since the
last run started; ``"manual"`` or empty: never due (run it with ``quantrl mine``). A job with an
unfinished run is always due, so an interrupted run is resumed.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from quantrl.alpha.ops import ALPHAGEN_OPERATORS, OPERATORS
from quantrl.errors import ConfigError
from quantrl.mining.env import REWARD_BASES
from quantrl.mining.neutral import exposure_formulas
from quantrl.mining.tokens import DEFAULT_CONSTANTS, DEFAULT_WINDOWS
from quantrl.mining.train import PPOConfig

__all__ = ["JobSpec", "Schedule", "load_spec", "parse_schedule"]

METHODS = ("ppo", "random", "gp")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
        if n < 1:
            raise ConfigError(f"schedule {text!r}: the interval must be positive")
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
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


@dataclass(frozen=True)
class JobSpec:
    """A validated mining job (see the module docstring for the TOML layout)."""

    name: str
    seed: int = 0
    output_dir: Path = Path("runs")
    registry: Path = Path("runs/registry.sqlite")
    schedule: Schedule = field(default_factory=lambda: Schedule("manual", text="manual"))
    market: str = "sp500"
    start: str | None = None
    end: str | None = None
    symbols: tuple[str, ...] = ()
    max_symbols: int = 0
    valid_start: str | None = None
    test_start: str | None = None
    label_horizon: int = 20
    warmup: int = 250
    method: str = "ppo"
    operators: tuple[str, ...] = ALPHAGEN_OPERATORS
    features: tuple[str, ...] = ("open", "high", "low", "close", "volume")
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    constants: tuple[float, ...] = DEFAULT_CONSTANTS
    max_len: int = 20
    subtree_penalty: float = 0.0
    reward: str = "cv"
    capacity: int = 10
    objective: str = "ic"
    mutual_threshold: float = 0.99
    transform: str = "zscore"
    blocks: int = 1
    valid_gate: bool = False
    neutralize: tuple[str, ...] = ()
    steps: int = 20000
    minutes: float = 0.0
    checkpoint_minutes: float = 5.0
    chunk_steps: int = 1024
    ppo: PPOConfig = field(default_factory=PPOConfig)
    gp: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"
    workers: int = 1
    address: str = ""
    seeds: tuple[int, ...] = ()
    operator_sets: tuple[tuple[str, ...], ...] = ()
    source: Path | None = None
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


_SECTIONS: dict[str, dict[str, str]] = {
    "job": {"name": "name", "seed": "seed", "output_dir": "output_dir", "registry": "registry",
            "schedule": "schedule"},
    "data": {k: k for k in ("market", "start", "end", "symbols", "max_symbols", "valid_start",
                            "test_start", "label_horizon", "warmup")},
    "search": {k: k for k in ("method", "operators", "features", "windows", "constants",
                              "max_len", "subtree_penalty", "reward")},
    "pool": {k: k for k in ("capacity", "objective", "mutual_threshold", "transform", "blocks",
                             "valid_gate", "neutralize")},
    "budget": {k: k for k in ("steps", "minutes", "checkpoint_minutes", "chunk_steps")},
    "distributed": {k: k for k in ("executor", "workers", "address", "seeds", "operator_sets")},
}  # fmt: skip


def _typed(section: str, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"[{section}] {key} must be {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(
            f"[{section}] {key} must be {_kind_name(kind)}, got {type(value).__name__} {value!r}"
        )
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def spec_from_dict(data: dict[str, Any], *, base: Path | None = None) -> JobSpec:
    """Validate a parsed TOML mapping into a JobSpec (ConfigError names the bad key)."""
    base = base or Path.cwd()
    known = set(_SECTIONS) | {"ppo", "gp"}
    for section, value in data.items():
        if section not in known:
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(sorted(known))})")
        if not isinstance(value, dict):
            raise ConfigError(f"[{section}] must be a table")
    flat: dict[str, Any] = {}
    for section, keys in _SECTIONS.items():
        table = data.get(section, {})
        for key, value in table.items():
            if key not in keys:
                raise ConfigError(
                    f"unknown key {key!r} in [{section}] (known: {', '.join(sorted(keys))})"
                )
            flat[keys[key]] = (section, value)
    if "name" not in flat:
        raise ConfigError("[job] name is required")

    def get(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in flat:
            return default
        section, value = flat[key]
        return _typed(section, key, value, kind)

    name = get("name", str, "")
    if not _NAME.match(name):
        raise ConfigError(f"[job] name {name!r} must use letters, digits, '-', '_' or '.'")
    out_dir = Path(get("output_dir", str, f"runs/{name}"))
    out_dir = out_dir if out_dir.is_absolute() else base / out_dir
    reg = get("registry", str, "")
    registry = Path(reg) if reg else out_dir.parent / "registry.sqlite"
    registry = registry if registry.is_absolute() else base / registry
    method = get("method", str, "ppo")
    if method not in METHODS:
        raise ConfigError(f"[search] method must be one of {METHODS}, got {method!r}")
    objective = get("objective", str, "ic")
    if objective not in ("ic", "rank_ic"):
        raise ConfigError(f"[pool] objective must be 'ic' or 'rank_ic', got {objective!r}")
    steps = get("steps", int, 20000)
    minutes = float(get("minutes", (int, float), 0.0))
    if steps < 0 or minutes < 0:
        raise ConfigError("[budget] steps and minutes must be >= 0")
    if steps == 0 and minutes == 0:
        raise ConfigError("[budget] needs steps > 0 or minutes > 0")
    capacity = get("capacity", int, 10)
    if capacity < 1:
        raise ConfigError(f"[pool] capacity must be >= 1, got {capacity}")
    horizon = get("label_horizon", int, 20)
    if horizon < 1:
        raise ConfigError(f"[data] label_horizon must be >= 1, got {horizon}")
    chunk = get("chunk_steps", int, 1024)
    if chunk < 1:
        raise ConfigError(f"[budget] chunk_steps must be >= 1, got {chunk}")
    mutual = float(get("mutual_threshold", (int, float), 0.99))
    if not 0 < mutual <= 1:
        raise ConfigError(f"[pool] mutual_threshold must lie in (0, 1], got {mutual}")
    ppo_table = data.get("ppo", {})
    ppo_fields = {f.name for f in fields(PPOConfig)}
    for key in ppo_table:
        if key not in ppo_fields:
            raise ConfigError(
                f"unknown key {key!r} in [ppo] (known: {', '.join(sorted(ppo_fields))})"
            )
    try:
        ppo = PPOConfig(**ppo_table)
    except TypeError as exc:
        raise ConfigError(f"[ppo] {exc}") from exc
    gp = dict(data.get("gp", {}))
    unknown_gp = set(gp) - {"population", "tournament", "p_crossover", "p_subtree", "p_point"}
    if unknown_gp:
        raise ConfigError(f"unknown key(s) {sorted(unknown_gp)} in [gp]")
    for key in ("start", "end", "valid_start", "test_start"):
        value = get(key, str, None)
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError as exc:
                raise ConfigError(f"[data] {key} {value!r} is not a date (YYYY-MM-DD)") from exc
    vs, ts = get("valid_start", str, None), get("test_start", str, None)
    if (vs is None) != (ts is None):
        raise ConfigError("[data] give both valid_start and test_start, or neither")
    if vs is not None and ts is not None and not vs < ts:
        raise ConfigError(f"[data] valid_start {vs} must be before test_start {ts}")
    ops = tuple(get("operators", list, list(ALPHAGEN_OPERATORS)))
    windows = tuple(get("windows", list, list(DEFAULT_WINDOWS)))
    for w in windows:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ConfigError(f"[search] windows must be positive integers, got {w!r}")
    constants = tuple(float(c) for c in get("constants", list, list(DEFAULT_CONSTANTS)))
    features = tuple(
        str(f).lstrip("$")
        for f in get("features", list, ["open", "high", "low", "close", "volume"])
    )
    reward = get("reward", str, "cv")
    if reward not in REWARD_BASES:
        raise ConfigError(f"[search] reward must be one of {REWARD_BASES}, got {reward!r}")
    transform = get("transform", str, "zscore")
    if transform not in ("zscore", "rank"):
        raise ConfigError(f"[pool] transform must be 'zscore' or 'rank', got {transform!r}")
    blocks = get("blocks", int, 1)
    if blocks < 1:
        raise ConfigError(f"[pool] blocks must be >= 1, got {blocks}")
    try:
        neutralize = exposure_formulas(get("neutralize", (list, str), []))
    except ConfigError as exc:
        raise ConfigError(f"[pool] {exc}") from exc
    executor = get("executor", str, "local")
    if executor not in ("local", "ray"):
        raise ConfigError(f"[distributed] executor must be 'local' or 'ray', got {executor!r}")
    workers = get("workers", int, 1)
    if workers < 1:
        raise ConfigError(f"[distributed] workers must be >= 1, got {workers}")
    seeds = tuple(get("seeds", list, []))
    for sd in seeds:
        if isinstance(sd, bool) or not isinstance(sd, int):
            raise ConfigError(f"[distributed] seeds must be integers, got {sd!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"[distributed] seeds must be distinct, got {list(seeds)}")
    operator_sets = []
    for op_set in get("operator_sets", list, []):
        if not isinstance(op_set, list) or not op_set:
            raise ConfigError("[distributed] operator_sets must be non-empty lists of operators")
        unknown = [o for o in op_set if o not in OPERATORS]
        if unknown:
            raise ConfigError(f"[distributed] unknown operators {unknown} in operator_sets")
        operator_sets.append(tuple(str(o) for o in op_set))
    spec = JobSpec(
        name=name,
        seed=get("seed", int, 0),
        output_dir=out_dir,
        registry=registry,
        schedule=parse_schedule(get("schedule", str, "manual")),
        market=get("market", str, "sp500"),
        start=get("start", str, None),
        end=get("end", str, None),
        symbols=tuple(get("symbols", list, [])),
        max_symbols=get("max_symbols", int, 0),
        valid_start=vs,
        test_start=ts,
        label_horizon=horizon,
        warmup=get("warmup", int, 250),
        method=method,
        operators=ops,
        features=features,
        windows=tuple(int(w) for w in windows),
        constants=constants,
        max_len=get("max_len", int, 20),
        subtree_penalty=float(get("subtree_penalty", (int, float), 0.0)),
        reward=reward,
        capacity=capacity,
        objective=objective,
        mutual_threshold=mutual,
        transform=transform,
        blocks=blocks,
        valid_gate=get("valid_gate", bool, False),
        neutralize=neutralize,
        steps=steps,
        minutes=minutes,
        checkpoint_minutes=float(get("checkpoint_minutes", (int, float), 5.0)),
        chunk_steps=chunk,
        ppo=ppo,
        gp=gp,
        executor=executor,
        workers=workers,
        address=get("address", str, ""),
        seeds=tuple(int(x) for x in seeds),
        operator_sets=tuple(operator_sets),
    )
    return spec


def load_spec(path: str | Path) -> JobSpec:
    """Read and validate a job TOML file (ConfigError with the file and key on any problem)."""
    p = Path(path).expanduser().resolve()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read job spec {p}: {exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"job spec {p} is not valid TOML: {exc}") from exc
    try:
        spec = spec_from_dict(data, base=p.parent)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    return _with(spec, source=p, digest=digest)


def _with(spec: JobSpec, **changes: Any) -> JobSpec:

    return replace(spec, **changes)


def utcnow() -> datetime:
    """Current time in UTC (timezone-aware)."""
    return datetime.now(UTC)
