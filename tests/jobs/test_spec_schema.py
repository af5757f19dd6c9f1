"""Job and sweep specs on the schema library: bounds, unknown keys, vocabulary, market checks,
canonical digests, and a property test: any mapping or TOML text gives a spec or a ConfigError."""

from __future__ import annotations

import inspect
import math
import string
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantrl.errors import ConfigError
from quantrl.jobs.harness import load_splits
from quantrl.jobs.schema import changed_keys
from quantrl.jobs.spec import GPTable, JobFile, PPOTable, load_spec, spec_from_dict
from quantrl.jobs.sweep import SweepFile, load_sweep
from quantrl.mining.baselines import GeneticSearch
from quantrl.mining.train import PPOConfig

BASE = {"job": {"name": "s"}, "budget": {"steps": 10}}


def _spec(**tables: dict) -> object:
    data = {k: dict(v) for k, v in BASE.items()}
    for table, values in tables.items():
        data.setdefault(table, {}).update(values)
    return spec_from_dict(data)


@pytest.mark.parametrize(
    ("table", "values", "message"),
    [
        ("budget", {"minutes": math.nan}, r"^\[budget\] minutes: must be a finite number >= 0"),
        ("budget", {"minutes": math.inf}, r"^\[budget\] minutes: must be a finite .*got inf"),
        ("budget", {"minutes": -1}, r"^\[budget\] minutes: .*got -1"),
        ("budget", {"checkpoint_minutes": math.nan}, r"^\[budget\] checkpoint_minutes: .*nan"),
        ("budget", {"checkpoint_minutes": -0.5}, r"^\[budget\] checkpoint_minutes: .*-0.5"),
        ("budget", {"steps": -1}, r"^\[budget\] steps: must be an integer in \[0, "),
        ("budget", {"steps": 10**30}, r"^\[budget\] steps: .*an integer of 31 digits"),
        ("budget", {"chunk_steps": 0}, r"^\[budget\] chunk_steps: "),
        ("data", {"label_horizon": 100000}, r"^\[data\] label_horizon: .*\[1, 10000\].*100000"),
        ("data", {"label_horizon": 0}, r"^\[data\] label_horizon: "),
        ("data", {"warmup": -1}, r"^\[data\] warmup: "),
        ("data", {"warmup": 10**9}, r"^\[data\] warmup: "),
        ("data", {"max_symbols": -3}, r"^\[data\] max_symbols: "),
        ("data", {"symbols": ["AAPL", "AAPL"]}, r"^\[data\] symbols: .*'AAPL' appears twice"),
        ("data", {"symbols": ["AAPL", 3]}, r"^\[data\] symbols\[1\]: must be a string"),
        ("data", {"symbols": "AAPL"}, r"^\[data\] symbols: must be a list, got string"),
        ("data", {"start": "2019-01-01", "end": "2018-01-01"}, r"start 2019-01-01 must be before"),
        ("data", {"start": 20190101}, r"^\[data\] start: must be a date"),
        ("search", {"max_len": 0}, r"^\[search\] max_len: must be an integer in \[1, 128\]"),
        ("search", {"max_len": 10**6}, r"^\[search\] max_len: "),
        ("search", {"max_len": 12.5}, r"^\[search\] max_len: must be an integer, got float"),
        ("search", {"operators": ["Abs", "Nope"]}, r"^\[search\] operators: .*'Nope'"),
        ("search", {"operators": []}, r"^\[search\] operators: needs at least one operator"),
        ("search", {"operators": ["Abs", "abs"]}, r"^\[search\] operators: .*'Abs' appears twice"),
        ("search", {"features": ["close", "cl ose"]}, r"^\[search\] features: 'cl ose' is not"),
        ("search", {"features": []}, r"^\[search\] features: needs at least one feature"),
        ("search", {"constants": [1.0, math.nan]}, r"^\[search\] constants\[1\]: .*got nan"),
        ("search", {"constants": [1e300]}, r"^\[search\] constants\[0\]: "),
        ("search", {"constants": [1, 1.0]}, r"^\[search\] constants: .*appears twice"),
        ("search", {"windows": [10, 10]}, r"^\[search\] windows: .*appears twice"),
        ("search", {"windows": []}, r"^\[search\] windows: must not be empty"),
        ("search", {"subtree_penalty": math.inf}, r"^\[search\] subtree_penalty: "),
        ("pool", {"mutual_threshold": 0}, r"^\[pool\] mutual_threshold: .*> 0 and <= 1"),
        ("pool", {"mutual_threshold": math.nan}, r"^\[pool\] mutual_threshold: "),
        ("job", {"seed": -1}, r"^\[job\] seed: must be an integer in \[0, 4294967295\]"),
        ("job", {"seed": 2**64}, r"^\[job\] seed: "),
        ("job", {"seed": True}, r"^\[job\] seed: must be an integer, got boolean"),
        ("job", {"schedule": "every 99999999999d"}, r"^\[job\] schedule: .*3650 days"),
        ("job", {"output_dir": "a\x00b"}, r"^\[job\] output_dir: is not a usable path"),
        ("ppo", {"learning_rate": math.nan}, r"^\[ppo\] learning_rate: "),
        ("ppo", {"gamma": 1.5}, r"^\[ppo\] gamma: "),
        ("ppo", {"batch_size": 4096}, r"^\[ppo\] batch_size 4096 exceeds the rollout size"),
        ("gp", {"p_crossover": 0.9, "p_point": 0.2}, r"^\[gp\] p_crossover \+ p_subtree"),
        ("gp", {"population": 1}, r"^\[gp\] population: "),
        ("distributed", {"seeds": [1, 2**40]}, r"^\[distributed\] seeds\[1\]: "),
        ("distributed", {"address": "auto"}, r"^\[distributed\] address 'auto' needs executor"),
    ],
)
def test_bad_values_are_refused_naming_table_and_key(table, values, message):
    with pytest.raises(ConfigError, match=message) as info:
        _spec(**{table: values})
    assert "\n" not in str(info.value)


def test_unknown_tables_and_keys_are_named():
    with pytest.raises(
        ConfigError,
        match=r"^\[budget\] minuts: unknown key \(known: checkpoint_minutes, chunk_steps",
    ):
        _spec(budget={"minuts": 3})
    with pytest.raises(ConfigError, match=r"^\[searhc\]: unknown table \(known: budget, data"):
        spec_from_dict({**BASE, "searhc": {}})
    with pytest.raises(ConfigError, match=r"^\[gp\] populaton: unknown key"):
        _spec(gp={"populaton": 5})
    with pytest.raises(ConfigError, match=r"^\[agent\] timestep: unknown key"):
        load_sweep(
            {
                "sweep": {"name": "a", "kind": "agent"},
                "grid": {"algo": ["ppo"]},
                "agent": {"timestep": 5},
            }
        )


def test_file_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text('[job]\nname = "x"\n[budget]\nminutes = nan\n')
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert str(info.value) == (
        f"{path}: [budget] minutes: must be a finite number >= 0 and <= 10000000 "
        "(0 = no limit), got nan"
    )


def test_values_are_normalised():
    spec = _spec(
        search={"operators": ["abs", "Mean"], "features": ["$close", "volume"]},
        data={"start": tomllib.loads("d = 2015-01-02")["d"], "end": "2016-01-01"},
    )
    assert spec.operators == ("Abs", "Mean") and spec.features == ("close", "volume")
    assert spec.start == "2015-01-02" and spec.end == "2016-01-01"
    assert spec.ppo == PPOConfig() and spec.gp["population"] == 100


def test_ppo_and_gp_tables_follow_their_classes():
    assert set(PPOTable.model_fields) == {f.name for f in fields(PPOConfig)}
    assert PPOTable().config() == PPOConfig()
    params = inspect.signature(GeneticSearch.__init__).parameters
    assert {k: params[k].default for k in GPTable.model_fields} == GPTable().model_dump()


def test_market_checks_happen_where_the_market_is_loaded():
    data = {"market": "sp500", "start": "2015-01-01", "end": "2016-06-30", "max_symbols": 5}
    data |= {"valid_start": "2016-01-01", "test_start": "2016-04-01", "warmup": 20}
    with pytest.raises(ConfigError, match=r"^\[data\] symbols: .*unknown symbol.*NOPE"):
        load_splits(_spec(data={**data, "symbols": ["AAPL", "NOPE"]}))
    with pytest.raises(ConfigError, match=r"^\[search\] features: \['vwap'\] are not fields"):
        load_splits(_spec(data=data, search={"features": ["close", "vwap"]}))
    # the valid split has about 62 dates: a 100-day label leaves none of them labelled
    with pytest.raises(ConfigError, match=r"^\[data\] label_horizon: 100 leaves no labelled date"):
        load_splits(_spec(data={**data, "label_horizon": 100}))
    with pytest.raises(ConfigError, match=r"^\[data\] market: unknown market source"):
        load_splits(_spec(data={"market": "nowhere"}))
    with pytest.raises(ConfigError, match=r"^\[data\] valid_start/test_start: .*split is empty"):
        load_splits(_spec(data={**data, "valid_start": "2016-02-06", "test_start": "2016-02-07"}))
    train, valid, test, labels = load_splits(_spec(data={**data, "label_horizon": 5}))
    assert valid.n_dates - valid.warmup > 5
    assert math.isfinite(float(labels["valid"][valid.warmup, 0]))


def test_digest_ignores_form_and_excluded_keys_but_not_results(tmp_path):
    text = '[job]\nname = "d"\n[budget]\nsteps = 100\n'
    a = tmp_path / "a.toml"
    a.write_text(text)
    b = tmp_path / "b.toml"  # comments, explicit defaults and excluded keys only
    b.write_text(
        '# nightly\n[job]\nname = "d"\nschedule = "daily 03:00"\nseed = 0\n'
        'output_dir = "elsewhere"\n[budget]\nsteps = 100\ncheckpoint_minutes = 1\n'
        "[distributed]\nworkers = 4\n[search]\nmax_len = 20\n"
    )
    c = tmp_path / "c.toml"
    c.write_text(text.replace("steps = 100", "steps = 200") + "[search]\nmax_len = 12\n")
    sa, sb, sc = load_spec(a), load_spec(b), load_spec(c)
    assert sa.digest == sb.digest and len(sa.digest) == 64
    assert sa.digest != sc.digest
    assert changed_keys(sa.canonical, sc.canonical) == [
        "[budget] steps: 100 -> 200",
        "[search] max_len: 20 -> 12",
    ]


def test_sweep_split_defaults_to_valid_and_is_checked():
    spec = load_sweep({"sweep": {"name": "m"}, "grid": {"strategy": ["momentum"]}})
    assert spec.split == "valid" and spec.kind == "strategy" and spec.agent == {}
    for sweep, grid, message in (
        ({"split": "train"}, {}, r"^\[sweep\] split: must be one of 'valid', 'test'"),
        ({"fees": math.nan}, {}, r"^\[sweep\] fees: "),
        ({"executor": "dask"}, {}, r"^\[sweep\] executor: must be one of 'local', 'ray'"),
        ({}, {"lookback": [5, math.inf]}, r"^\[grid\] lookback: values must be"),
        ({}, {"lookback": []}, r"^\[grid\] lookback: is an empty list"),
        ({}, {"lookback": [{"a": 1}]}, r"^\[grid\] lookback: values must be"),
        ({}, {"look back": [1]}, r"^\[grid\] 'look back': 'look back' is not a parameter name"),
        ({}, {"strategy": [3]}, r"strategy values must be strategy names"),
        ({"kind": "agent"}, {"algo": ["nope"]}, r"unknown algorithm 'nope'"),
        ({"kind": "agent"}, {"seed": [-1]}, r"seed values must be integers"),
    ):
        data = {"sweep": {"name": "m", **sweep}, "grid": {"strategy": ["momentum"], **grid}}
        if sweep.get("kind") == "agent":
            data["grid"].pop("strategy")
        with pytest.raises(ConfigError, match=message):
            load_sweep(data)


# --------------------------------------------------------------------------- property tests

_KEYS = sorted(
    {k for model in (JobFile, SweepFile) for k in model.model_fields}
    | {k for t in JobFile.model_fields.values() for k in getattr(t.annotation, "model_fields", {})}
    | {"name", "kind", "split", "metric", "env", "timesteps", "strategy", "algo", "seed"}
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["ppo", "gp", "random", "daily 02:00", "every 0h", "styles", "$close",
                     "Abs", "Mean", "2016-07-01", "sp500", "momentum", "valid", "test", "local",
                     "ray", "auto", "nan", "", "a b"]),
)  # fmt: skip
_keys = st.one_of(st.sampled_from(_KEYS), st.text(max_size=8))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)
_tables = st.dictionaries(_keys, _values, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(list(JobFile.model_fields)), st.text(max_size=6)),
        st.one_of(_tables, _values),
        max_size=5,
    ),
    st.booleans(),
)
def test_any_mapping_gives_a_job_spec_or_a_config_error(data, named):
    job = data.get("job")
    if named and (job is None or isinstance(job, dict)):  # get past the required name
        data = {**data, "job": {**(job or {}), "name": "x"}}
    try:
        spec = spec_from_dict(data)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert math.isfinite(spec.minutes) and spec.minutes >= 0
        assert math.isfinite(spec.checkpoint_minutes) and spec.checkpoint_minutes >= 0
        assert 1 <= spec.label_horizon <= 10_000 and len(spec.digest) == 64


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(["sweep", "grid", "agent"]), st.text(max_size=6)),
        st.one_of(_tables, _values),
        max_size=4,
    )
)
def test_any_mapping_gives_a_sweep_spec_or_a_config_error(data):
    try:
        spec = load_sweep(data)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert spec.split in ("valid", "test") and spec.grid


_toml_lines = st.lists(
    st.one_of(
        st.sampled_from(["[job]", "[data]", "[search]", "[pool]", "[budget]", "[ppo]", "[gp]",
                         "[distributed]", "[nope]", "[job.sub]", 'name = "t"', "seed = 3",
                         "minutes = nan", "minutes = -inf", "checkpoint_minutes = -1",
                         "label_horizon = 100000", "steps = 99999999999999999999",
                         'operators = ["Abs", "Zap"]', "max_len = 1e3", "warmup = []",
                         'features = ["close"]', "symbols = [1, 2]", "constants = [nan]",
                         "seeds = [1, 1]", 'schedule = "every 5m"', "start = 2015-01-01",
                         "end = 2014-01-01T00:00:00Z", "x = { y = 1 }", "= broken"]),
        st.builds(
            lambda k, v: f"{k} = {v}",
            st.sampled_from(_KEYS),
            st.sampled_from(["1", "-1", "0", "1.5", "true", '"s"', "[]", "{}", "inf", "nan",
                             "18446744073709551617", '["a", 2]', "[[1], [2]]"]),
        ),
    ),
    max_size=12,
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_toml_lines, st.text(alphabet=string.printable, max_size=20))
def test_any_toml_text_gives_a_job_spec_or_a_config_error(tmp_path_factory, lines, noise):
    path = Path(tmp_path_factory.mktemp("toml")) / "job.toml"
    path.write_text("\n".join([*lines, noise]))
    try:
        load_spec(path)
    except ConfigError as exc:
        assert str(exc).startswith(("job spec", str(path.resolve())))
