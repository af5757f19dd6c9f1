"""Early stopping on validation (``[budget] keep = "best_valid"``): the job keeps the pool of the
chunk with the best validation RankIC, the same through a kill and resume, and says so in
pool.json; the spec refuses it with merged miners."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from quantrl.cli.app import app
from quantrl.errors import ConfigError, JobError
from quantrl.jobs.early_stopping import best_from_state
from quantrl.jobs.runner import run_job
from quantrl.jobs.spec import load_spec, spec_from_dict
from quantrl.jobs.store import Registry

SPEC = """
[job]
name = "{name}"
seed = 1
output_dir = "{name}"
registry = "registry.sqlite"

[data]
market = "sp500"
start = "2015-06-01"
end = "2016-03-31"
max_symbols = 20
valid_start = "2015-11-01"
test_start = "2016-01-01"
warmup = 40

[search]
method = "random"
max_len = 10

[pool]
capacity = 4

[budget]
steps = 320
checkpoint_minutes = 0
chunk_steps = 32
keep = "{keep}"
"""


def _spec(folder: Path, name: str, keep: str):
    path = folder / f"{name}.toml"
    path.write_text(SPEC.format(name=name, keep=keep))
    return load_spec(path)


def _run(spec, **kw):
    """Run a job, recording each chunk's pool (formulas, weights) as the chunk hook sees it."""
    pools: list[tuple[list[str], list[float]]] = []

    def hook(setup, info):
        pool = setup.task.pool
        pools.append((list(pool.formulas), [float(w) for w in pool.weights]))

    return run_job(spec, on_chunk=hook, **kw), pools


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("early")
    best = _spec(folder, "best", "best_valid")
    last = _spec(folder, "last", "last")
    return best, _run(best), _run(last)


def test_the_kept_pool_is_the_chunk_with_the_best_validation_rank_ic(runs):
    spec, (result, pools), _ = runs
    scores = np.array([p["valid_rank_ic"] for p in result.curve])
    pick = int(np.nanargmax(scores))  # first of equal maxima, NaN (empty pool) never
    assert pick < len(pools) - 1, "this seed must keep an earlier chunk for the test to bite"
    assert (result.formulas, result.weights) == pools[pick] != pools[-1]
    # pool.json's validation RankIC is the kept pool's, evaluated again: the chunk's figure
    assert result.metrics["valid"]["rank_ic"] == pytest.approx(scores[pick], abs=1e-12)
    saved = json.loads(spec.pool_path.read_text())
    assert [m["formula"] for m in saved["members"]] == pools[pick][0]
    assert saved["selection"] == {
        "rule": "best_valid",
        "chunks": len(result.curve),
        "formulas": int(result.curve[pick]["formulas"]),
        "steps": int(result.curve[pick]["steps"]),
        "valid_rank_ic": scores[pick],
    }
    assert result.selection == saved["selection"]


def test_keeping_the_best_does_not_change_the_search(runs):
    _, (best, best_pools), (last, last_pools) = runs
    np.testing.assert_equal(best.curve, last.curve)  # NaN points while the pool is empty
    assert best_pools == last_pools
    assert (last.formulas, last.weights) == last_pools[-1] and last.selection is None


def test_a_killed_and_resumed_run_keeps_the_same_pool(runs, tmp_path):
    whole_spec, (whole, _), _ = runs
    spec = _spec(tmp_path, "best", "best_valid")

    def stop(setup, info):  # before chunk 6's checkpoint: chunk 5's is on disk
        if len(setup.curve) == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(spec, on_chunk=stop)
    resumed = run_job(spec, resume=True)
    assert resumed.resumed
    assert (resumed.formulas, resumed.weights) == (whole.formulas, whole.weights)
    assert resumed.selection == whole.selection
    np.testing.assert_equal(resumed.curve, whole.curve)
    # a member added in a simpler form names the formula offered, through the kill and the
    # restore of the best chunk's pool
    members = json.loads(whole_spec.pool_path.read_text())["members"]
    assert any("offered" in m for m in members)
    assert json.loads(spec.pool_path.read_text())["members"] == members


def test_the_cli_says_which_chunk_it_kept(tmp_path):
    spec = _spec(tmp_path, "cli", "best_valid")
    res = CliRunner().invoke(app, ["mine", str(spec.source), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "kept the pool after" in res.output and "chosen on" in res.output
    saved = json.loads(spec.pool_path.read_text())["members"]
    simplified = [m for m in saved if "offered" in m]
    assert simplified  # each such member is printed with the formula it was offered as
    assert all(f"offered as {m['offered']}" in res.output for m in simplified)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "does not hold exactly"),
        ({"formulas": ["$close"], "weights": [1.0]}, "does not hold exactly"),
        (
            {"formulas": "$close", "weights": [1.0], "steps": 1, "n_formulas": 1,
             "valid_rank_ic": 0.1},
            "not a list of strings",
        ),
        (
            {"formulas": ["$close"], "weights": [1.0, 2.0], "steps": 1, "n_formulas": 1,
             "valid_rank_ic": 0.1},
            "one number per formula",
        ),
        (
            {"formulas": ["$close"], "weights": [1.0], "steps": "1", "n_formulas": 1,
             "valid_rank_ic": 0.1},
            "not a number",
        ),
        (
            {"formulas": ["$close"], "weights": [1.0], "steps": 1, "n_formulas": 1,
             "valid_rank_ic": float("nan")},
            "not a number",
        ),
        (
            {"formulas": ["$close"], "weights": [1.0], "steps": 1, "n_formulas": 1,
             "valid_rank_ic": 0.1, "origins": {"$close": 3}},
            "origins are not a mapping of member formulas to formulas",
        ),
    ],
)  # fmt: skip
def test_a_malformed_snapshot_in_a_checkpoint_is_refused(raw, message):
    with pytest.raises(JobError, match=message):
        best_from_state(raw)


def test_an_older_checkpoint_without_a_snapshot_reads_as_none():
    assert best_from_state(None) is None
    older = {"formulas": ["$close"], "weights": [1.0], "steps": 1, "n_formulas": 1,
             "valid_rank_ic": 0.1}  # fmt: skip
    assert best_from_state(older)["origins"] == {}  # saved before members recorded origins


def test_the_spec_key():
    base = {"job": {"name": "x"}}
    default = spec_from_dict(base)
    assert default.keep == "last"
    # "last" is how jobs ran before the key existed: it digests as before
    assert spec_from_dict({**base, "budget": {"keep": "last"}}).digest == default.digest
    assert spec_from_dict({**base, "budget": {"keep": "best_valid"}}).digest != default.digest
    with pytest.raises(ConfigError, match=r"\[budget\] keep: must be one of"):
        spec_from_dict({**base, "budget": {"keep": "best"}})
    with pytest.raises(ConfigError, match="merge several miners"):
        spec_from_dict({**base, "budget": {"keep": "best_valid"}, "distributed": {"seeds": [1, 2]}})


def test_every_chunk_the_choice_compared_is_a_validation_trial(runs):
    spec, (result, _), (last, _) = runs
    registry = Registry(spec.registry)
    trials = registry.trials(spec.market, "valid")
    mine = [t for t in trials if t["name"] == "best"]
    # one trial per distinct pool the choice looked at (a pool kept over chunks repeats figures)
    figures = {(p["valid_ic"], p["valid_rank_ic"]) for p in result.curve}
    distinct = {f for f in figures if np.isfinite(f[1])}
    assert len(mine) == len(distinct) > 2
    kept = [t for t in mine if "chunk_formulas" not in t["params"]]
    assert len(kept) == 1 and kept[0]["rank_ic"] == pytest.approx(result.selection["valid_rank_ic"])
    # keeping the last pool compares nothing: its run is one validation trial
    assert len([t for t in trials if t["name"] == "last"]) == 1
    run = registry.run(result.run_id)
    assert run["message"].startswith(f"kept the pool after {result.selection['formulas']} formulas")
