"""The mining study's core on 20 symbols, 2 seeds and a tiny budget: checkpoints, one test-split
evaluation, ledger trials, and paired statistics equal to scipy's on the per-seed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.bench_mining import load_inputs
from benchmarks.mining_study import (
    STUDY,
    Design,
    comparisons,
    conclusion,
    evaluate_all,
    long_short_weights,
    mean_ci,
    member_size,
    mine_all,
    plot_study,
    study_figure,
    versus,
)
from quantrl.alpha import EvalCache
from quantrl.evaluation.alpha import pfs, rre
from quantrl.jobs.store import Registry
from quantrl.mining.pool import AlphaPool
from quantrl.stats.inference import PairedComparison

SEEDS = [1000, 1001]
DESIGN = Design(
    formulas=32,
    methods=("ppo", "random"),
    bench_args=("--max-symbols", "20", "--ppo", "n_steps=16,n_envs=2,batch_size=32"),
)


def test_long_short_weights_by_hand() -> None:
    factor = np.array(
        [
            [5.0, 1.0, 3.0, np.nan, 2.0, 4.0, 0.0, 9.0, 8.0, 7.0, 6.0],
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
        ]
    )
    w = long_short_weights(factor, quantile=0.2, every=2, start=0)
    # row 0: 10 finite values, k = 2: top 9 (col 7) and 8 (col 8), bottom 0 (col 6) and 1 (col 1)
    expected = np.zeros(11)
    expected[[7, 8]] = 0.25
    expected[[6, 1]] = -0.25
    np.testing.assert_array_equal(w[0], expected)
    assert np.isnan(w[1]).all()  # not a rebalance row
    # row 2: 11 values, k = 2: cols 9, 10 long; cols 0, 1 short
    expected = np.zeros(11)
    expected[[9, 10]] = 0.25
    expected[[0, 1]] = -0.25
    np.testing.assert_array_equal(w[2], expected)
    assert np.abs(w[2]).sum() == pytest.approx(1.0)
    # rows before ``start`` and rows with too few values keep their positions (NaN)
    w = long_short_weights(factor[:, :4], quantile=0.2, every=1, start=1)
    assert np.isnan(w).all()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    inputs = load_inputs(DESIGN.bench())
    registry = Registry(out / "registry.sqlite")
    mined = mine_all(out, DESIGN, SEEDS, inputs, verbose=False)
    rows = evaluate_all(out, DESIGN, SEEDS, inputs, registry, split="test")
    return out, inputs, registry, mined, rows


def test_checkpoints_resume_and_a_single_test_evaluation(study) -> None:
    out, inputs, registry, mined, rows = study
    assert sorted(mined) == sorted(f"{m}/{s}" for m in DESIGN.methods for s in SEEDS)
    for key, r in mined.items():  # PPO's 8 envs step together: a step may end up to 8
        extra = 7 if key.startswith("ppo/") else 0  # formulas at once, so it can overshoot
        assert DESIGN.formulas <= r["formulas"] <= DESIGN.formulas + extra, (key, r)
    before = (out / "mined.json").stat().st_mtime_ns
    n_test = registry.count_trials(STUDY, "test")
    assert n_test == 2 * len(DESIGN.methods) * len(SEEDS)  # a pool and a strategy trial each
    # a rerun mines nothing and reads the evaluation back
    assert mine_all(out, DESIGN, SEEDS, inputs, verbose=False) == mined
    assert (out / "mined.json").stat().st_mtime_ns == before
    assert evaluate_all(out, DESIGN, SEEDS, inputs, registry, split="test") == rows
    assert registry.count_trials(STUDY, "test") == n_test
    assert all(r["trials"] == len(DESIGN.methods) * len(SEEDS) for r in rows)
    # the saved pools reproduce the validation figures measured when they were mined
    valid = evaluate_all(out, DESIGN, SEEDS, inputs, registry, split="valid")
    for r in valid:
        assert r["ic"] == pytest.approx(r["valid_ic"], abs=1e-12)
        assert r["rank_ic"] == pytest.approx(r["valid_rank_ic"], abs=1e-12)
        assert r["sharpe_low"] <= r["sharpe"] <= r["sharpe_high"]
        assert 0.0 <= r["dsr"] <= 1.0
    # the combined factor's AlphaEval stability and robustness, on the split's own rows
    first = valid[0]
    pool = AlphaPool.load(out / "pools" / f"{first['method']}-{first['seed']}.json")
    factor = pool.combined(inputs.valid, cache=EvalCache(1 << 26))[inputs.valid.warmup :]
    assert first["rre"] == rre(factor) and 0.0 < first["rre"] <= 1.0
    assert first["pfs"] == pfs(factor, seed=first["seed"]).mean and -1.0 <= first["pfs"] <= 1.0
    # another design in the same folder, or design seeds on the test split, are refused
    with pytest.raises(SystemExit):
        mine_all(out, Design(formulas=13, bench_args=DESIGN.bench_args), SEEDS, inputs)
    with pytest.raises(SystemExit):
        evaluate_all(out, DESIGN, [0, 1], inputs, registry, split="test")
    assert json.loads((out / "design.json").read_text())["formulas"] == DESIGN.formulas


def _values(rows, method: str, metric: str) -> np.ndarray:
    return np.array(
        [r[metric] for r in sorted(rows, key=lambda r: r["seed"]) if r["method"] == method]
    )


def _synthetic_rows(n_seeds: int) -> list[dict]:
    rng = np.random.default_rng(7)
    return [
        {"method": m, "seed": 1000 + s, "rank_ic": float(rng.normal(0.01, 0.01))}
        for s in range(n_seeds)
        for m in ("ppo", "random", "gp")
    ]


def _check_against_scipy(rows, methods, seeds, metric: str, names: set[str]) -> None:
    cmp = comparisons(rows, methods, seeds, metric)
    assert set(cmp) == names
    for name, c in cmp.items():
        a, b = (_values(rows, m, metric) for m in name.split(" - "))
        t = sps.ttest_rel(a, b)
        assert c.n == len(seeds)
        assert c.mean_difference == pytest.approx(float(np.mean(a - b)), abs=1e-15)
        assert c.t_statistic == pytest.approx(float(t.statistic))
        assert c.t_pvalue == pytest.approx(float(t.pvalue))
        assert c.wilcoxon_pvalue == pytest.approx(float(sps.wilcoxon(a, b).pvalue))
        half = sps.t.ppf(0.975, len(a) - 1) * np.std(a - b, ddof=1) / math.sqrt(len(a))
        assert (c.low, c.high) == pytest.approx((np.mean(a - b) - half, np.mean(a - b) + half))
    for m in methods:
        x = _values(rows, m, metric)
        ci = mean_ci(x)
        half = sps.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
        assert (ci.mean, ci.low, ci.high) == pytest.approx(
            (x.mean(), x.mean() - half, x.mean() + half)
        )


@pytest.mark.parametrize("metric", ["rank_ic", "sharpe"])
def test_paired_numbers_of_the_study_equal_scipy(study, metric: str) -> None:
    _check_against_scipy(study[4], DESIGN.methods, SEEDS, metric, {"ppo - random"})


def test_paired_numbers_of_three_methods_equal_scipy() -> None:
    rows = _synthetic_rows(8)
    seeds = list(range(1000, 1008))
    names = {"ppo - random", "gp - random", "ppo - gp"}
    _check_against_scipy(rows, ("ppo", "random", "gp"), seeds, "rank_ic", names)
    assert comparisons(rows, ("ppo", "random", "gp"), seeds[:1], "rank_ic") == {}


def test_conclusion_follows_the_interval() -> None:
    def cmp(low: float, high: float) -> PairedComparison:
        return PairedComparison(8, (low + high) / 2, low, high, 0.95, 1.0, 0.1, 0.2)

    assert conclusion(cmp(0.001, 0.01), "PPO", "random", "RankIC").startswith("PPO beats random")
    assert "random is better" in conclusion(cmp(-0.01, -0.001), "PPO", "random", "RankIC")
    assert "the CI contains 0" in conclusion(cmp(-0.01, 0.01), "PPO", "random", "RankIC")
    assert "[-0.0100, +0.0100]" in conclusion(cmp(-0.01, 0.01), "PPO", "random", "RankIC")


def test_versus_pairs_two_designs_like_scipy() -> None:
    rows, other = _synthetic_rows(8), _synthetic_rows(8)
    for r in other:
        r["rank_ic"] -= 0.004 + 0.001 * (r["seed"] % 3)
    seeds = list(range(1000, 1008))
    text = versus(rows, other, seeds, "valid", "--reward-weights x vs defaults")
    a, b = _values(rows, "ppo", "rank_ic"), _values(other, "ppo", "rank_ic")
    t = sps.ttest_rel(a, b)
    line = next(x for x in text.splitlines() if x.startswith("| PPO (MaskablePPO) | valid RankIC"))
    assert f"{np.mean(a - b):+.4f}" in line and f"{t.pvalue:.3f}" in line
    assert f"{np.mean(a):.4f}" in line and f"{np.mean(b):.4f}" in line
    assert "Sharpe" not in text  # metrics the rows lack are left out
    assert text.splitlines()[0].startswith("| --reward-weights x vs defaults, paired over seeds")


def test_versus_says_when_two_designs_mined_the_same_pools() -> None:
    rows = _synthetic_rows(4)
    for r in rows:
        r["members"] = [[f"Mean($close,{r['seed'] % 7 + 2})", 1.0]]
    other = [dict(r) for r in rows]
    other[0] = {**other[0], "members": [["Std($close,5)", 1.0]], "rank_ic": 0.5}
    seeds = list(range(1000, 1004))
    text = versus(rows, other, seeds, "valid", "x vs y")
    assert other[0]["method"] == "ppo" and other[0]["seed"] == 1000
    assert "PPO (MaskablePPO): the two designs mined the same pool on 3 of 4 seeds" in text
    assert "random search: the two designs mined the same pool on 4 of 4 seeds" in text
    # Mean($close,w) is 3 tokens deep 2, Std($close,5) the same: by hand over PPO's 2 seeds
    assert "PPO (MaskablePPO): pool members of 3.0 tokens (depth 2.0) on average in this" in text
    same = next(x for x in text.splitlines() if x.startswith("| random search | valid RankIC"))
    assert "+0.0000 on every seed | - | -" in same  # the tests are undefined, not p = nan


def test_member_size_counts_tokens_and_depth_by_hand() -> None:
    rows = _synthetic_rows(2)
    rows[0]["members"] = [["Corr($close,Log($volume),20)", 1.0], ["$close", -1.0]]  # PPO, 1000
    rows[3]["members"] = [["Div(Mean($close,20),$close)", 1.0]]  # PPO, seed 1001
    # tokens: $close $volume Log 20 Corr = 5; $close = 1; $close 20 Mean $close Div = 5
    # depth: Corr(., Log(.)) = 3; a feature = 1; Div(Mean(.), .) = 3
    assert member_size(rows, "ppo", [1000, 1001]) == (3, 11 / 3, 7 / 3)
    assert member_size(rows, "random", [1000, 1001])[0] == 0  # no members recorded


def test_versus_reports_the_blended_rewards_quality_factors() -> None:
    rows, other = _synthetic_rows(2), _synthetic_rows(2)
    for i, r in enumerate(rows):
        q = {"n": 10 + i, "min": 0.5 + i / 10, "q05": 0.9 + i / 100, "median": 0.99 - i / 100}
        r["reward_quality"] = q
    text = versus(rows, other, [1000, 1001], "valid", "x vs y")
    # PPO's rows are 0 and 3, random search's 1 and 4 (three methods per seed)
    assert (
        "PPO (MaskablePPO), this design: the blended reward scaled the gains of 10-13 candidates "
        "per seed by a median of 0.9750 (per-seed 5 % quantiles 0.900-0.930, smallest 0.500)."
    ) in text
    assert "the other design: the blended" not in text  # its rows hold no quality factors


def test_study_figure_draws_each_seed_and_each_mean_with_its_t_interval(tmp_path) -> None:
    """Each panel holds one grey line per seed through the methods' values (the pairs) and,
    per method, the mean with scipy's 95% t-interval; the PNG is written whole."""
    rows = _synthetic_rows(8)
    rng = np.random.default_rng(3)
    for r in rows:
        r["sharpe"] = float(rng.normal(0.2, 0.8))
    methods, seeds = ("ppo", "random", "gp"), list(range(1000, 1008))
    fig = study_figure(rows, methods, seeds, "test")
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["test RankIC", "test long-short Sharpe"]
    for ax, metric in zip(axes, ("rank_ic", "sharpe"), strict=True):
        lines = [ln for ln in ax.get_lines() if ln.get_gid() == "seed"]
        assert [ln.get_label() for ln in lines] == [f"seed {s}" for s in seeds]
        for line, seed in zip(lines, seeds, strict=True):
            want = [next(r[metric] for r in rows if r["method"] == m and r["seed"] == seed)
                    for m in methods]  # fmt: skip
            assert np.array_equal(line.get_ydata(), want)
        means = [c for c in ax.containers if c.get_label().startswith("mean ")]
        assert [c.get_label() for c in means] == [f"mean {m}" for m in methods]
        for bars, m in zip(means, methods, strict=True):
            a = _values(rows, m, metric)
            ci = sps.ttest_1samp(a, 0.0).confidence_interval(0.95)
            marker, caps, _ = bars.lines
            assert marker.get_ydata()[0] == pytest.approx(np.mean(a))
            assert sorted(c.get_ydata()[0] for c in caps) == pytest.approx([ci.low, ci.high])
    only_ic = [{k: v for k, v in r.items() if k != "sharpe"} for r in rows]
    assert len(study_figure(only_ic, methods, seeds, "valid").get_axes()) == 1
    path = tmp_path / "study.png"
    plot_study(rows, methods, seeds, "test", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    with pytest.raises(SystemExit, match="nothing to plot"):
        study_figure([{"method": "ppo", "seed": 1}], methods, seeds, "test")


def test_an_empty_pool_stops_the_evaluation_with_its_name(study, tmp_path) -> None:
    """A pool that kept no formula has no factor to score: the evaluation stops, naming the
    method and seed, before it records any trial."""
    out, inputs, _, _, _ = study
    copy = tmp_path / "study"
    copy.mkdir()
    for name in ("design.json", "mined.json"):
        (copy / name).write_bytes((out / name).read_bytes())
    (copy / "pools").mkdir()
    for path in (out / "pools").glob("*.json"):
        (copy / "pools" / path.name).write_bytes(path.read_bytes())
    AlphaPool(4).save(copy / "pools" / f"random-{SEEDS[1]}.json")
    registry = Registry(tmp_path / "registry.sqlite")
    with pytest.raises(SystemExit, match=f"random seed {SEEDS[1]} mined an empty pool"):
        evaluate_all(copy, DESIGN, SEEDS, inputs, registry, split="valid")
    assert registry.count_trials(STUDY, "valid") == 0
