"""MacroHFT-style study: kNN memory weights, embeddings, episode returns and splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantrl.envs.hft import HFTEnv
from quantrl.experiments.macro_hft import (
    CLAIMS,
    GreedyQ,
    KNNMemory,
    embed,
    episode_starts,
    flat_notes,
    names_by_training_return,
    run_episode,
    train_dqn,
    window_table,
)


def test_knn_memory_weights_match_hand_computation() -> None:
    keys = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    values = np.array([[0.01, 0.0], [0.03, 0.0], [0.02, 0.0], [-1.0, 1.0]])
    mem = KNNMemory(keys, values, k=3, tau=0.01)
    w = mem.weights(np.array([0.1, 0.1]))
    # the 3 nearest are the first three rows: mean scores 0.02 and 0.0
    e = np.exp(np.array([0.02, 0.0]) / 0.01 - 2.0)
    np.testing.assert_allclose(w, e / e.sum())
    near_far = KNNMemory(keys, values, k=1, tau=0.01).weights(np.array([4.0, 4.0]))
    assert near_far[1] > 0.99


def test_embed_uses_the_observation_layout() -> None:
    env = HFTEnv("crypto_minute", split="train", seed=0)
    obs, _ = env.reset(options={"start": env.first_row + 10})
    e = embed(obs, env.window)
    assert e[0] == pytest.approx(obs[: env.window].sum())
    assert e[3] == obs[2 * env.window]
    assert e.shape == (5,)


def test_run_episode_flat_is_zero_and_deterministic() -> None:
    env = HFTEnv("crypto_minute", split="test")
    s = int(env.chunk_starts[0])
    assert run_episode(env, s, lambda o: env.n_levels // 2) == 0.0
    a = run_episode(env, s, lambda o: int(o[0] > 0) * (env.n_levels - 1))
    b = run_episode(env, s, lambda o: int(o[0] > 0) * (env.n_levels - 1))
    assert a == b and a != 0.0


def test_regime_training_and_test_windows_do_not_overlap() -> None:
    train = HFTEnv("crypto_minute", split="train", regime="up")
    test = HFTEnv("crypto_minute", split="test")
    last_train = train.panel.dates[-1]
    assert last_train < test.panel.dates[test.first_row]
    assert train.panel.dates[train.chunk_starts[-1] + train.episode_length] <= last_train


def test_best_sub_agent_is_ranked_on_training_returns() -> None:
    values = np.array([[0.01, -0.02, 0.00], [0.03, 0.04, -0.01], [-0.01, 0.02, 0.00]])
    # means: 0.01, 0.0133, -0.0033
    assert names_by_training_return(["down", "up", "flat"], values) == ["up", "down", "flat"]


@pytest.mark.slow
def test_fast_run_is_deterministic_and_measures_every_claim(tmp_path) -> None:
    import pandas as pd

    from quantrl.experiments import run_experiment

    a = run_experiment("macro_hft", tmp_path / "a", fast=True, seed=0, seeds=2)
    b = run_experiment("macro_hft", tmp_path / "b", fast=True, seed=1)
    pd.testing.assert_frame_equal(a.runs[1].table, b.table)
    assert a.runs[1].measurements == b.runs[1].measurements
    first, second = a.runs[0].measurements, a.runs[1].measurements
    names = {n for c in CLAIMS if c.testable for n in (c.metric, c.baseline) if n}
    assert names <= set(first)
    table = a.runs[0].table
    assert first["hyper_return"] == table.loc["hyper-agent (kNN memory)", "mean_episode_log_return"]
    assert first["long_return"] == table.loc["long", "mean_episode_log_return"]
    assert first["flat_return"] == second["flat_return"] == 0.0
    assert first["long_return"] == second["long_return"]  # no agent: the same on every seed
    assert first["hyper_return"] != second["hyper_return"]  # the seed reaches the agents
    verdicts = pd.read_csv(tmp_path / "a" / "table.csv", index_col=0)
    assert list(verdicts.index) == [c.key for c in CLAIMS]
    assert (tmp_path / "a" / "report.html").exists()
    assert a.backtests, "the report needs tear-sheet backtests"
    for res in a.backtests.values():
        # equity is cash plus positions at the close, bar by bar
        value = res.cash + (res.positions * res.close).sum(axis=1)
        np.testing.assert_allclose(value, res.equity, rtol=1e-9)
    assert (tmp_path / "a" / "report.html").read_text().count("<img") >= 4


def test_greedy_q_matches_the_models_deterministic_prediction() -> None:
    env = HFTEnv("crypto_minute", split="train", seed=0)
    model = train_dqn(env, 300, seed=0)
    greedy = GreedyQ(model)
    obs = np.stack([env.reset(options={"start": int(s)})[0] for s in env.chunk_starts[:40]])
    obs[:, -3] = np.linspace(-1, 1, obs.shape[0])  # vary the position weight too
    with torch.no_grad():
        q = model.q_net(torch.as_tensor(obs)).numpy()
    for o, row in zip(obs, q, strict=True):
        np.testing.assert_allclose(greedy.q_values(o), row, rtol=1e-5, atol=1e-6)
        assert greedy(o) == int(model.predict(o, deterministic=True)[0])


def test_overlapping_test_episodes_fit_in_the_test_split() -> None:
    env = HFTEnv("crypto_minute", split="test")
    starts = episode_starts(env, 60)
    assert starts[0] == env.first_row and np.all(np.diff(starts) == 60)
    assert starts[-1] + env.episode_length <= env.last_row < starts[-1] + 60 + env.episode_length
    assert np.isin(env.chunk_starts, starts).all()  # the non-overlapping episodes are among them
    assert run_episode(env, int(starts[-1]), lambda o: env.n_levels - 1) != 0.0


def test_window_table_and_flat_notes_by_hand() -> None:
    dates = np.arange("2022-01-01T00:00", "2022-01-01T10:00", dtype="datetime64[m]")
    starts = np.array([0, 60, 120, 180, 240])
    results = {
        "hyper-agent (kNN memory)": [-0.01, -0.02, 0.03, -0.04, 0.01],
        "sub-agent up": [-0.02, -0.02, -0.02, -0.02, -0.02],
        "flat (no trade)": [0.0] * 5,
        "long": [0.02, 0.01, -0.01, 0.0, -0.03],
    }
    table = window_table(results, starts, dates, 2)  # episodes {0, 1, 2} and {3, 4}
    assert list(table.index) == [
        "2022-01-01T00:00 .. 2022-01-01T02:00",
        "2022-01-01T03:00 .. 2022-01-01T04:00",
    ]
    np.testing.assert_allclose(table["hyper-agent (kNN memory)"], [0.0, -0.015], atol=1e-15)
    np.testing.assert_allclose(table["long"], [2 / 300, -0.015])
    import pandas as pd

    means = pd.Series({k: float(np.mean(v)) for k, v in results.items()})
    first, second = flat_notes(means, table)
    assert first.startswith("no agent policy beats flat") and "all 2 lose money" in first
    assert "beats flat in 0 of 2 and buy-and-hold in 0 of 2" in second
    means["sub-agent up"] = 0.001
    again = flat_notes(means, table)[0]
    assert again.startswith("policies that beat flat") and "sub-agent up (+0.0010" in again
