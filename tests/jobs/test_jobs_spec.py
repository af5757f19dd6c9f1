"""Job specs: TOML validation with clear errors, and the schedule grammar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quantrl.errors import ConfigError
from quantrl.jobs.spec import load_spec, parse_schedule

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "sp500_small.toml"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def test_example_spec_is_valid():
    spec = load_spec(EXAMPLE)
    assert spec.name and spec.market == "sp500" and spec.capacity == 10
    assert spec.schedule.kind in ("daily", "weekly", "every", "manual")
    assert spec.output_dir.is_absolute() and len(spec.digest) == 64


def test_defaults_and_relative_paths(tmp_path):
    spec = load_spec(_write(tmp_path, '[job]\nname = "a"\n'))
    assert spec.method == "random" and spec.steps == 20000 and spec.label_horizon == 20
    assert spec.output_dir == tmp_path / "runs" / "a"
    assert spec.registry == tmp_path / "runs" / "registry.sqlite"
    assert spec.schedule.kind == "manual"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[job]\nseed = 1\n", "name is required"),
        ('[job]\nname = "a b"\n', "use letters, digits"),
        ('[job]\nname = "a"\n[serch]\n', r"\[serch\]: unknown table"),
        (
            '[job]\nname = "a"\n[pool]\ncapcity = 3\n',
            r"\[pool\] capcity: unknown key \(known: blocks, capacity",
        ),
        (
            '[job]\nname = "a"\n[pool]\ncapacity = "3"\n',
            r"\[pool\] capacity: must be an integer, got string '3'",
        ),
        (
            '[job]\nname = "a"\n[pool]\ncapacity = 0\n',
            r"\[pool\] capacity: must be an integer in \[1, 1000\], got 0",
        ),
        (
            '[job]\nname = "a"\n[search]\nmethod = "sa"\n',
            r"\[search\] method: must be one of 'ppo', 'random', 'gp', got 'sa'",
        ),
        ('[job]\nname = "a"\n[budget]\nsteps = 0\n', "needs steps > 0 or minutes > 0"),
        ('[job]\nname = "a"\nschedule = "hourly"\n', "schedule 'hourly' not understood"),
        (
            '[job]\nname = "a"\n[data]\nvalid_start = "2016-13-01"\ntest_start = "2017-01-01"\n',
            "is not a date",
        ),
        (
            '[job]\nname = "a"\n[data]\nvalid_start = "2017-01-01"\ntest_start = "2016-01-01"\n',
            "must be before",
        ),
        ('[job]\nname = "a"\n[ppo]\nn_stepz = 3\n', r"\[ppo\] n_stepz: unknown key"),
        (
            '[job]\nname = "a"\n[search]\nwindows = [0, 5]\n',
            r"\[search\] windows\[0\]: must be an integer in \[1, 10000\], got 0",
        ),
        ('[job]\nname = "a"\n[job2\n', "not valid TOML"),
    ],
)
def test_invalid_specs_name_the_problem(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_spec(_write(tmp_path, text))


def test_missing_file():
    with pytest.raises(ConfigError, match="cannot read job spec"):
        load_spec("/nonexistent/job.toml")


def test_daily_schedule():
    s = parse_schedule("daily 02:00")
    now = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)
    assert s.is_due(now, None)
    assert not s.is_due(now, datetime(2024, 5, 10, 2, 5, tzinfo=UTC))  # already ran today
    assert s.is_due(now, datetime(2024, 5, 9, 2, 5, tzinfo=UTC))  # ran yesterday
    early = datetime(2024, 5, 10, 1, 0, tzinfo=UTC)  # before today's slot
    assert not s.is_due(early, datetime(2024, 5, 9, 2, 5, tzinfo=UTC))


def test_weekly_and_interval_schedules():
    w = parse_schedule("weekly mon 06:30")
    fri = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)  # a Friday
    assert w.last_slot(fri) == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)
    assert not w.is_due(fri, datetime(2024, 5, 6, 7, 0, tzinfo=UTC))
    assert w.is_due(fri, datetime(2024, 5, 6, 6, 0, tzinfo=UTC))
    e = parse_schedule("every 6h")
    assert e.interval == timedelta(hours=6)
    assert e.is_due(fri, fri - timedelta(hours=6))
    assert not e.is_due(fri, fri - timedelta(hours=5, minutes=59))
    assert parse_schedule("every 30m").interval == timedelta(minutes=30)
    assert not parse_schedule("manual").is_due(fri, None)
    for bad in ("daily 25:00", "weekly xyz 01:00", "every 0h", "cron * * *"):
        with pytest.raises(ConfigError):
            parse_schedule(bad)


def test_pool_keys_reach_the_job_pool():
    from quantrl.jobs.harness import make_pool
    from quantrl.jobs.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "job": {"name": "p"},
            "data": {"market": "sp500", "max_symbols": 12},
            "pool": {"transform": "rank", "blocks": 3, "valid_gate": True},
            "budget": {"steps": 10},
        }
    )
    assert (spec.transform, spec.blocks, spec.valid_gate) == ("rank", 3, True)
    from quantrl.jobs.harness import load_splits

    train, valid, _, labels = load_splits(spec)
    pool = make_pool(spec, train, valid, labels)
    assert pool.transform == "rank" and pool.blocks == 3 and pool.purge == spec.label_horizon
    assert pool.has_validation and pool.min_coverage == spec.min_coverage == 0.5
    plain = make_pool(
        spec_from_dict({"job": {"name": "q"}, "budget": {"steps": 10}}), train, valid, labels
    )
    assert not plain.has_validation and plain.transform == "zscore" and plain.blocks == 1
    loose = spec_from_dict(
        {"job": {"name": "r"}, "pool": {"min_coverage": 0.2}, "budget": {"steps": 10}}
    )
    assert make_pool(loose, train, valid, labels).min_coverage == 0.2
    assert pool.date_step == spec.date_step == 1
    stepped = spec_from_dict(
        {"job": {"name": "s"}, "pool": {"date_step": 5}, "budget": {"steps": 10}}
    )
    assert make_pool(stepped, train, valid, labels).date_step == 5
    assert pool.one_sided == spec.one_sided == 0.999
    off = spec_from_dict({"job": {"name": "o"}, "pool": {"one_sided": 0}, "budget": {"steps": 10}})
    assert make_pool(off, train, valid, labels).one_sided == 0.0
    assert pool.cv_gate == spec.cv_gate == "off"
    gated = spec_from_dict(
        {"job": {"name": "c"}, "pool": {"blocks": 3, "cv_gate": "every"}, "budget": {"steps": 10}}
    )
    assert make_pool(gated, train, valid, labels).cv_gate == "every"
    for formula in ("Mean($close, 5)", "Std($volume, 10)", "Delta($close, 20)"):
        result = pool.try_add(formula)
        if result.accepted:  # accepted by a gated pool: it raised the validation objective
            assert result.valid_gain > 0


@pytest.mark.parametrize(
    ("pool", "match"),
    [
        ({"transform": "log"}, "transform"),
        ({"blocks": 0}, "blocks"),
        ({"purge": -1}, r"\[pool\] purge: must be an integer in \[0, 10000\], got -1"),
        ({"purge": 2.0}, r"\[pool\] purge: "),
        ({"valid_gate": 1}, "valid_gate: must be true or false"),
        ({"min_coverage": 1.5}, r"\[pool\] min_coverage: .*>= 0 and <= 1"),
        ({"min_coverage": -0.1}, r"\[pool\] min_coverage: "),
        ({"date_step": 0}, r"\[pool\] date_step: must be an integer in \[1, "),
        ({"date_step": 2.5}, r"\[pool\] date_step: "),
        ({"one_sided": 0.5}, r"one_sided must be 0 \(off\) or lie in \(0.5, 1\], got 0.5"),
        ({"one_sided": 1.5}, r"\[pool\] one_sided: "),
        ({"cv_gate": "on"}, r"\[pool\] cv_gate: must be one of 'off', 'mean', 'every', got 'on'"),
        ({"cv_gate": "mean"}, r'cv_gate = "mean" needs blocks >= 2 and objective = "ic"'),
        (
            {"cv_gate": "every", "blocks": 3, "objective": "rank_ic"},
            r'needs blocks >= 2 and objective = "ic", got blocks = 3, objective = "rank_ic"',
        ),
        ({"simplify": "yes"}, r"\[pool\] simplify: must be true or false"),
        ({"simplify_tolerance": 1.0}, r"\[pool\] simplify_tolerance: .*>= 0 and < 1, got 1"),
        ({"simplify_tolerance": -0.1}, r"\[pool\] simplify_tolerance: "),
        ({"simplify_reach": 3}, r"\[pool\] simplify_reach: must be an integer in \[1, 2\], got 3"),
    ],
)
def test_bad_pool_keys(pool, match):
    from quantrl.jobs.spec import spec_from_dict

    with pytest.raises(ConfigError, match=match):
        spec_from_dict({"job": {"name": "p"}, "pool": pool, "budget": {"steps": 10}})


def test_pool_purge_defaults_to_the_label_horizon():
    from quantrl.jobs.schema import changed_keys
    from quantrl.jobs.spec import spec_from_dict

    def spec(data=None, pool=None):
        return spec_from_dict(
            {"job": {"name": "g"}, "data": data or {}, "pool": pool or {}, "budget": {"steps": 1}}
        )

    assert spec().purge == 20
    assert spec({"label_horizon": 5}).purge == 5
    assert spec({"label_horizon": 5}, {"purge": 0}).purge == 0
    assert spec(pool={"purge": 3}).purge == 3
    assert spec(pool={"purge": 20}).digest == spec().digest  # the default spelled out
    assert changed_keys(spec().canonical, spec({"label_horizon": 5}).canonical) == [
        "[data] label_horizon: 20 -> 5",
        "[pool] purge: 20 -> 5",
    ]
    old = json.loads(spec().canonical)
    del old["pool"]["purge"]  # a spec digested before the key existed
    assert changed_keys(json.dumps(old), spec().canonical) == ["[pool] purge: (absent) -> 20"]


def test_pool_date_step_key_digests_as_before_when_left_at_one():
    from quantrl.jobs.schema import changed_keys
    from quantrl.jobs.spec import spec_from_dict

    def spec(pool=None):
        return spec_from_dict({"job": {"name": "d"}, "pool": pool or {}, "budget": {"steps": 1}})

    assert "date_step" not in json.loads(spec().canonical)["pool"]  # old checkpoints resume
    assert spec({"date_step": 1}).digest == spec().digest
    assert spec({"date_step": 5}).digest != spec().digest
    assert changed_keys(spec().canonical, spec({"date_step": 5}).canonical) == [
        "[pool] date_step: (absent) -> 5"
    ]


def test_pool_one_sided_key_digests_as_before_only_when_off():
    """With the check off (0) a spec digests as before the key existed, so its checkpoints
    resume; the default (on) changes what is mined, and so the digest."""
    from quantrl.jobs.schema import changed_keys
    from quantrl.jobs.spec import spec_from_dict

    def spec(pool=None):
        return spec_from_dict({"job": {"name": "d"}, "pool": pool or {}, "budget": {"steps": 1}})

    old = json.loads(spec({"one_sided": 0}).canonical)
    assert "one_sided" not in old["pool"]
    assert spec({"one_sided": 0.999}).digest == spec().digest != spec({"one_sided": 0}).digest
    assert changed_keys(json.dumps(old), spec().canonical) == [
        "[pool] one_sided: (absent) -> 0.999"
    ]


def test_pool_cv_gate_key_digests_as_before_only_when_off():
    from quantrl.jobs.schema import changed_keys
    from quantrl.jobs.spec import spec_from_dict

    def spec(pool=None):
        pool = {"blocks": 3, **(pool or {})}
        return spec_from_dict({"job": {"name": "d"}, "pool": pool, "budget": {"steps": 1}})

    assert "cv_gate" not in json.loads(spec().canonical)["pool"]  # old checkpoints resume
    assert spec({"cv_gate": "off"}).digest == spec().digest
    assert spec({"cv_gate": "mean"}).digest != spec().digest != spec({"cv_gate": "every"}).digest
    assert changed_keys(spec().canonical, spec({"cv_gate": "every"}).canonical) == [
        "[pool] cv_gate: (absent) -> 'every'"
    ]


def test_pool_simplify_keys_digest_as_before_only_when_off():
    from quantrl.jobs.schema import changed_keys
    from quantrl.jobs.spec import spec_from_dict

    def spec(pool=None):
        return spec_from_dict({"job": {"name": "d"}, "pool": pool or {}, "budget": {"steps": 1}})

    off = spec({"simplify": False, "simplify_tolerance": 0.0})
    canonical = json.loads(off.canonical)["pool"]
    assert "simplify" not in canonical and "simplify_tolerance" not in canonical  # as before
    assert spec().simplify and spec().simplify_tolerance == 0.0  # on by default
    assert changed_keys(off.canonical, spec().canonical) == ["[pool] simplify: (absent) -> True"]
    loose = spec({"simplify_tolerance": 0.1})
    assert loose.simplify_tolerance == 0.1
    assert changed_keys(spec().canonical, loose.canonical) == [
        "[pool] simplify_tolerance: (absent) -> 0.1"
    ]
    assert spec({"simplify_reach": 1}).digest == spec().digest and spec().simplify_reach == 1
    assert changed_keys(spec().canonical, spec({"simplify_reach": 2}).canonical) == [
        "[pool] simplify_reach: (absent) -> 2"
    ]


def test_harness_simplifies_unless_told_not_to():
    from quantrl.jobs.harness import build_harness, load_splits
    from quantrl.jobs.spec import spec_from_dict

    def spec(pool):
        return spec_from_dict(
            {"job": {"name": "h"}, "data": {"market": "dow30"}, "pool": pool,
             "budget": {"steps": 10}, "search": {"method": "random"}}
        )  # fmt: skip

    plain = spec({})
    train, valid, _, labels = load_splits(plain)
    vocab, task, _ = build_harness(plain, train, valid, labels)
    assert task.simplifier is not None and task.simplifier.vocab is vocab
    assert task.simplifier.tolerance == 0.0
    loose = build_harness(spec({"simplify_tolerance": 0.2}), train, valid, labels)[1]
    assert loose.simplifier is not None and loose.simplifier.tolerance == 0.2
    assert task.simplifier.reach == 1 and loose.simplifier.reach == 1
    far = build_harness(spec({"simplify_reach": 2}), train, valid, labels)[1]
    assert far.simplifier is not None and far.simplifier.reach == 2
    assert build_harness(spec({"simplify": False}), train, valid, labels)[1].simplifier is None


def test_pool_neutralize_key():
    from quantrl.jobs.harness import load_splits, make_pool
    from quantrl.jobs.spec import spec_from_dict
    from quantrl.mining.neutral import DEFAULT_STYLE_EXPOSURES

    def spec(value):
        return spec_from_dict(
            {
                "job": {"name": "n"},
                "data": {"market": "sp500", "max_symbols": 12},
                "pool": {"neutralize": value},
                "budget": {"steps": 10},
            }
        )

    assert spec("styles").neutralize == DEFAULT_STYLE_EXPOSURES
    assert spec("none").neutralize == ()
    assert spec(["Log( $close )"]).neutralize == ("Log($close)",)
    styled = spec("styles")
    train, valid, _, labels = load_splits(styled)
    assert make_pool(styled, train, valid, labels).neutralize == DEFAULT_STYLE_EXPOSURES
    for bad, match in (("sizes", "styles"), (["Log($close"], "exposure formula"), (3, "list")):
        with pytest.raises(ConfigError, match=match):
            spec(bad)


def _search_spec(**search):
    """A small random-search job on 12 S&P 500 symbols with these ``[search]`` keys."""
    from quantrl.jobs.spec import spec_from_dict

    return spec_from_dict(
        {
            "job": {"name": "s"},
            "data": {"market": "sp500", "max_symbols": 12},
            "search": {"method": "random", **search},
            "budget": {"steps": 10},
        }
    )


def test_search_reward_key_reaches_the_mining_task():
    from quantrl.jobs.harness import build_setup

    spec = _search_spec
    assert spec().reward == "cv"
    assert build_setup(spec(reward="net")).task.reward_basis == "net"
    with pytest.raises(ConfigError, match=r"\[search\] reward: must be one of"):
        spec(reward="gross")


def test_search_units_and_max_depth_keys_reach_the_grammar():
    """``units`` and ``max_depth`` set the searcher's grammar: off, a formula the units forbid
    can be written; a smaller depth stops the masks from nesting deeper."""
    from quantrl.jobs.harness import build_setup
    from quantrl.mining.tokens import GrammarState, Vocabulary

    spec = _search_spec

    def admits_last(vocab, rpn):  # whether the masks admit rpn's last token after the others
        state = GrammarState(vocab)
        for token in rpn[:-1]:
            state.push(vocab.tokens.index(token))
        return bool(state.mask()[vocab.tokens.index(rpn[-1])])

    assert (spec().units, spec().max_depth) == ("on", Vocabulary.max_depth)
    rpn = ["$close", "$volume", "Add"]  # a price plus a volume: unsound
    for units, admitted in (("on", False), ("off", True)):
        vocab = build_setup(spec(units=units)).vocab
        assert vocab.units == units
        assert admits_last(vocab, rpn) is admitted
    deep = ["$close", "Log", "10", "Mean", "20", "Std"]  # Std(Mean(Log($close),10),20): 4 deep
    for depth, admitted in ((4, True), (3, False)):
        assert admits_last(build_setup(spec(max_depth=depth)).vocab, deep) is admitted
    for bad, match in (
        ({"units": "maybe"}, r"\[search\] units: must be one of"),
        ({"max_depth": 1}, r"\[search\] max_depth: "),
        ({"max_depth": 2.5}, r"\[search\] max_depth: "),
    ):
        with pytest.raises(ConfigError, match=match):
            spec(**bad)


def test_search_grammar_keys_digest_as_before_only_at_the_old_behaviour():
    """Units on and a depth of 6 mined before the keys existed, so specs with them digest as
    then and resume their checkpoints; any other value changes the digest."""
    from quantrl.jobs.schema import changed_keys
    from quantrl.jobs.spec import spec_from_dict

    def spec(search=None):
        return spec_from_dict(
            {"job": {"name": "d"}, "search": search or {}, "budget": {"steps": 1}}
        )

    old = json.loads(spec({"units": "on", "max_depth": 6}).canonical)
    assert "units" not in old["search"] and "max_depth" not in old["search"]
    assert spec({"units": "off"}).digest != spec({"units": "on", "max_depth": 6}).digest
    assert changed_keys(json.dumps(old), spec({"max_depth": 3}).canonical) == [
        "[search] max_depth: (absent) -> 3"
    ]
    assert changed_keys(json.dumps(old), spec({"units": "off", "max_depth": 6}).canonical) == [
        "[search] units: (absent) -> 'off'"
    ]
