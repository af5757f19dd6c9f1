"""The [distributed] table of a job spec and `quantrl mine --executor local --seeds`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantrl.cli.app import app
from quantrl.errors import ConfigError
from quantrl.jobs.distributed import plan_miners
from quantrl.jobs.spec import spec_from_dict
from quantrl.jobs.store import Registry

BASE = {"job": {"name": "d"}, "budget": {"steps": 100}}


def _spec(**distributed: object):
    return spec_from_dict({**BASE, "distributed": distributed})


def test_defaults_and_values() -> None:
    spec = _spec(executor="ray", workers=4, address="auto", seeds=[3, 1], operator_sets=[["Abs"]])
    assert (spec.executor, spec.workers, spec.address, spec.seeds) == ("ray", 4, "auto", (3, 1))
    assert spec.operator_sets == (("Abs",),)
    plain = spec_from_dict(BASE)
    assert (plain.executor, plain.workers, plain.seeds) == ("local", 1, ())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"executor": "dask"}, "executor"),
        ({"workers": 0}, "workers"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"seeds": ["a"]}, r"\[distributed\] seeds\[0\]: must be an integer"),
        ({"operator_sets": [["Nope"]]}, "unknown operator 'Nope'"),
        ({"operator_sets": [[]]}, "needs at least one operator"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_tables_name_the_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _spec(**table)


def test_plan_assigns_operator_sets_round_robin() -> None:
    spec = _spec(seeds=[5, 6, 7], operator_sets=[["Abs", "Log"], ["Mean"]])
    plan = plan_miners(spec, list(spec.seeds), spec.operator_sets)
    assert [(t.index, t.seed, t.operators) for t in plan] == [
        (0, 5, ("Abs", "Log")),
        (1, 6, ("Mean",)),
        (2, 7, ("Abs", "Log")),
    ]
    with pytest.raises(ConfigError, match="at least one seed"):
        plan_miners(spec, [])


def test_cli_mine_with_local_executor_merges_the_miners(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nname = "cli-dist"\noutput_dir = "out"\n'
        '[data]\nmarket = "sp500"\nmax_symbols = 20\n'
        '[search]\nmethod = "random"\n[pool]\ncapacity = 3\n'
        "[budget]\nsteps = 300\nchunk_steps = 100\n"
    )
    out = CliRunner().invoke(app, ["mine", str(job), "--executor", "local", "--seeds", "0,1"])
    assert out.exit_code == 0, out.output
    assert "2 miners on local x1" in out.output
    registry = Registry(tmp_path / "registry.sqlite")
    runs = registry.runs("cli-dist")
    assert runs[0]["status"] == "finished" and runs[0]["method"].startswith("random x2")
    # the merged pool is a trial of the market's study, once per split it was scored on
    trials = registry.trials("sp500")
    assert sorted((t["kind"], t["name"], t["split"]) for t in trials) == [
        ("pool", "cli-dist", "test"),
        ("pool", "cli-dist", "valid"),
    ]
    assert all(t["ic"] == t["ic"] for t in trials)  # finite


def test_run_due_runs_a_distributed_spec_then_skips_it(tmp_path: Path) -> None:
    from quantrl.jobs.runner import run_due

    (tmp_path / "d.toml").write_text(
        '[job]\nname = "due-dist"\noutput_dir = "out"\nschedule = "every 1h"\n'
        '[data]\nmarket = "sp500"\nmax_symbols = 15\n'
        '[search]\nmethod = "random"\n[pool]\ncapacity = 3\n'
        "[budget]\nsteps = 200\nchunk_steps = 100\n"
        "[distributed]\nseeds = [0, 1]\n"
    )
    first = run_due(tmp_path)
    assert [(o.job, o.action) for o in first] == [("due-dist", "ran")]
    assert "test RankIC" in first[0].detail
    second = run_due(tmp_path)
    assert [(o.job, o.action) for o in second] == [("due-dist", "skipped")]
    assert len(list((tmp_path / "out" / "miners").glob("*.json"))) == 2


def test_merged_pool_keeps_the_formula_each_simplified_member_was_offered_as() -> None:
    from quantrl.jobs.distributed import merge_pools
    from quantrl.jobs.harness import load_splits

    spec = spec_from_dict(
        {"job": {"name": "merge"}, "data": {"market": "dow30"}, "pool": {"capacity": 3}}
    )
    train, valid, _, labels = load_splits(spec)
    kept, offered = "Div(Mean($close,20),$close)", "Log(Div(Mean($close,20),$close))"
    miners = [
        {"formulas": [kept], "origins": {kept: offered}},
        {"formulas": ["Corr($close,$volume,20)"]},  # a result saved before origins existed
    ]
    pool = merge_pools(spec, train, valid, labels, miners)
    assert kept in pool.formulas and pool.origins == {kept: offered}
    bad = [{"formulas": [kept], "origins": [offered]}]
    with pytest.raises(ConfigError, match="miner result: origins are not a mapping"):
        merge_pools(spec, train, valid, labels, bad)
