"""Workflow specs: defaults, relative paths, and one-line errors naming the table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantrl import ConfigError
from quantrl.workflow import WorkflowSpec, load_workflow_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/workflows/alpha158_lightgbm_sp500.toml"


def test_example_spec_is_qlib_benchmark_settings():
    spec = load_workflow_spec(EXAMPLE)
    assert spec.model.kind == "lightgbm"
    assert spec.model.lgb_params() == {
        "loss": "mse",
        "colsample_bytree": 0.8879,
        "learning_rate": 0.2,
        "subsample": 0.8789,
        "lambda_l1": 205.6999,
        "lambda_l2": 580.9768,
        "max_depth": 8,
        "num_leaves": 210,
    }
    assert (spec.model.num_boost_round, spec.model.early_stopping_rounds) == (1000, 50)
    assert (spec.strategy.topk, spec.strategy.n_drop, spec.label.horizon) == (50, 5, 20)
    assert (spec.data.valid_start, spec.data.test_start) == ("2016-07-01", "2017-01-01")
    assert spec.feature_norm() == "none" and spec.fillna() is False
    assert spec.path(spec.output.dir) == EXAMPLE.parent / "../../runs/alpha158_lightgbm_sp500"


def test_defaults_and_model_dependent_processing():
    spec = load_workflow_spec({})
    assert spec.features.set == "alpha158" and spec.model.kind == "lightgbm"
    assert spec.model.seed == 0 and spec.model.num_threads == 2
    linear = load_workflow_spec({"model": {"kind": "linear"}})
    assert linear.feature_norm() == "robust_zscore" and linear.fillna() is True
    assert load_workflow_spec({"model": {"seed": 4}}).model.kind == "lightgbm"
    assert linear.with_seed(7).model.seed == 7 and linear.model.seed == 0
    assert isinstance(load_workflow_spec(linear), WorkflowSpec)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"model": {"learning_rat": 0.1}}, "[model] unknown key 'learning_rat'"),
        ({"model": {"kind": "linear", "num_leaves": 8}}, "[model] unknown key 'num_leaves'"),
        ({"strategy": {"top_k": 5}}, "[strategy] unknown key 'top_k'"),
        ({"modle": {}}, "unknown table or key 'modle'"),
        ({"base_dir": "/"}, "unknown table or key 'base_dir'"),
        ({"model": {"kind": "xgboost"}}, "[model] kind: Input tag 'xgboost'"),
        ({"strategy": {"topk": 0}}, "[strategy] topk:"),
        ({"strategy": {"topk": 5, "n_drop": 6}}, "[strategy] n_drop (6) must not exceed topk"),
        ({"label": {"horizon": "20d"}}, "[label] horizon:"),
        ({"features": {"set": "alpha158", "formulas": ["$close"]}}, "either set or formulas"),
        ({"features": {"set": "alpha101"}}, "set must be alpha158, alpha360 or pool:PATH"),
        ({"features": {"names": ["a"]}}, "[features]"),
        ({"data": {"vwap": "median"}}, "[data] vwap:"),
        ({"model": {"alphas": [-1.0]}}, "[model] unknown key 'alphas'"),
        ({"model": {"kind": "linear", "alphas": [-1.0]}}, "[model] alphas: Input should be"),
    ],
)
def test_errors_name_table_and_key(tables, message):
    with pytest.raises(ConfigError) as err:
        load_workflow_spec(tables)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_toml_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nkind = 'x'\n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_workflow_spec(bad)
    with pytest.raises(ConfigError, match="cannot read workflow spec"):
        load_workflow_spec(tmp_path / "missing.toml")
    good = tmp_path / "sub" / "w.toml"
    good.parent.mkdir()
    good.write_text("[features]\nset = 'pool:pools/p.json'\n[output]\ndir = 'out'\n")
    spec = load_workflow_spec(good)
    assert spec.path("out") == tmp_path / "sub" / "out"
    assert spec.path("/abs/x") == Path("/abs/x")
    typo = tmp_path / "typo.toml"
    typo.write_text("[data]\nmarkt = 'sp500'\n")
    with pytest.raises(ConfigError, match=r"typo.toml: \[data\] unknown key 'markt'"):
        load_workflow_spec(typo)
