"""Environment kernels called directly, against plain numpy references (no env classes)."""

from __future__ import annotations

import numpy as np
import pytest

from quantrl.kernels.env_state import (
    BAD_ACTION,
    BAD_SCALE,
    BOOK_ROWS,
    DONE,
    IMPACT_LINEAR,
    IMPACT_NONE,
    IMPACT_SQRT,
    MARK,
    MODE_LONG_SHORT,
    MODE_SOFTMAX,
    MODE_WEIGHTS,
    OK,
    OUT_DTYPE,
    POS,
    REWARD_DSR,
    REWARD_LOG,
    REWARD_RISK,
    REWARD_SHARPE,
    STATE_DTYPE,
    TGT,
    Buffers,
    Market,
    new_params,
)
from quantrl.kernels.envs import (
    account_bar_nb,
    action_to_targets_nb,
    esg_adjust_nb,
    reset_env_nb,
    reward_nb,
    step_one_nb,
)
from quantrl.kernels.hft import hft_step_nb, impact_nb
from quantrl.kernels.portfolio import TRADE_DTYPE


def _params(**fields):
    params = new_params()
    for name, value in fields.items():
        params[0][name] = value
    return params


def _fill_reference(cash, pos, targets, p, c, fees, slippage, fixed=0.0):
    """One rebalancing bar by hand: sizes from the value at ``p``, fills at ``p (1 +- s)``."""
    value = cash + pos @ p
    size = targets * value / p - pos
    fill = np.where(size > 0, p * (1 + slippage), p * (1 - slippage))
    paid = np.abs(size) * fill * fees + fixed * (size != 0)
    cash = cash - size @ fill - paid.sum()
    pos = pos + size
    return cash + pos @ c, cash, pos, paid.sum()


@pytest.mark.parametrize("slippage", [0.0, 0.002])
def test_account_bar_matches_hand_rebalancing(slippage):
    p = np.array([10.0, 20.0, 50.0])
    c = np.array([10.5, 19.0, 51.0])
    targets = np.array([0.3, -0.2, 0.4])
    book = np.zeros((BOOK_ROWS, 3))
    book[POS] = [1000.0, 500.0, 0.0]
    book[MARK] = [9.0, 21.0, np.nan]
    cash0 = 50_000.0
    account = np.array([cash0, cash0])
    trades = np.zeros(3, dtype=TRADE_DTYPE)
    params = _params(fees=0.001, slippage=slippage)
    pos0 = book[POS].copy()
    equity, paid, n_fills = account_bar_nb(7, p, c, targets, account, book, params, 0.0, trades)
    ref_equity, ref_cash, ref_pos, ref_paid = _fill_reference(
        cash0, pos0, targets, p, c, 0.001, slippage
    )
    assert n_fills == 3
    assert equity == pytest.approx(ref_equity, rel=1e-12)
    assert account[0] == pytest.approx(ref_cash, rel=1e-12)
    np.testing.assert_allclose(book[POS], ref_pos, rtol=1e-12)
    np.testing.assert_array_equal(book[MARK], c)  # marked at the close
    assert paid == pytest.approx(ref_paid, rel=1e-12)
    assert set(trades["bar"][:n_fills]) == {7}
    # extra slippage (market impact) adds to the slippage of the params
    book2 = np.zeros((BOOK_ROWS, 3))
    book2[POS] = pos0
    account2 = np.array([cash0, cash0])
    eq2, _, _ = account_bar_nb(
        7, p, c, targets, account2, book2, _params(fees=0.001), slippage, trades
    )
    assert eq2 == pytest.approx(equity, rel=1e-12)


def test_account_bar_keeps_assets_without_a_price():
    p = np.array([10.0, np.nan])
    c = np.array([11.0, np.nan])
    book = np.zeros((BOOK_ROWS, 2))
    book[POS] = [0.0, 100.0]
    book[MARK] = [np.nan, 30.0]
    account = np.array([10_000.0, 10_000.0])
    trades = np.zeros(2, dtype=TRADE_DTYPE)
    equity, _, n_fills = account_bar_nb(
        1, p, c, np.array([0.5, 0.0]), account, book, _params(), 0.0, trades
    )
    value = 10_000.0 + 100 * 30.0  # the asset without a price is valued at its last mark
    units = 0.5 * value / 10.0
    assert n_fills == 1 and book[POS, 1] == 100.0  # no price: the position is kept
    assert equity == pytest.approx(10_000.0 + units * (11.0 - 10.0) + 100 * 30.0, rel=1e-12)


def test_action_mappings_against_numpy():
    a = np.array([0.3, -0.5, 0.9, 0.1])
    out = np.zeros(3)
    assert action_to_targets_nb(a, _params(mode=MODE_SOFTMAX, temperature=2.0), out) == OK
    e = np.exp(2.0 * a)
    np.testing.assert_allclose(out, e[:3] / e.sum(), rtol=1e-12)
    params = _params(mode=MODE_LONG_SHORT, max_leverage=1.0)
    assert action_to_targets_nb(np.array([2.0, -0.5, 0.5]), params, out) == OK
    np.testing.assert_allclose(out, [0.5, -0.25, 0.25], rtol=1e-12)
    params = _params(mode=MODE_WEIGHTS, max_leverage=1.0)
    assert action_to_targets_nb(np.array([0.8, -0.6, 0.2]), params, out) == OK
    np.testing.assert_allclose(out, [0.5, -0.375, 0.125], rtol=1e-12)
    assert action_to_targets_nb(np.array([1e20, 0.0, 0.0]), params, out) == OK
    np.testing.assert_array_equal(out, [1.0, 0.0, 0.0])
    assert action_to_targets_nb(np.array([1e308, 1e308, 0.0]), params, out) == BAD_SCALE
    assert action_to_targets_nb(np.array([0.1, np.nan, 0.0]), params, out) == BAD_ACTION
    assert action_to_targets_nb(np.array([0.1, 0.0, -np.inf]), params, out) == BAD_ACTION


def _reward_reference(rets, kind, eta, lam, k):
    out, a, b = [], 0.0, 0.0
    for i, r in enumerate(rets):
        hist = rets[max(0, i - k + 1) : i + 1]
        if kind == REWARD_LOG:
            out.append(np.log1p(r))
        elif kind == REWARD_DSR:
            var = b - a * a
            out.append(0.0 if var <= 1e-12 else (b * (r - a) - 0.5 * a * (r * r - b)) / var**1.5)
            a, b = a + eta * (r - a), b + eta * (r * r - b)
        elif kind == REWARD_SHARPE:
            sd = np.std(hist, ddof=1) if len(hist) > 1 else 0.0
            out.append(0.0 if len(hist) < 2 or sd == 0 else np.mean(hist) / sd)
        else:
            var = np.var(hist, ddof=1) if len(hist) > 1 else 0.0
            out.append(np.log1p(r) - lam * var)
    return np.array(out)


@pytest.mark.parametrize("kind", [REWARD_LOG, REWARD_DSR, REWARD_SHARPE, REWARD_RISK])
def test_reward_kernel_against_numpy(kind):
    rets = np.random.default_rng(0).normal(0.001, 0.02, 40)
    params = _params(reward=kind, eta=0.05, lam=3.0)
    state = np.zeros(1, dtype=STATE_DTYPE)
    ring = np.zeros(6)
    got = []
    for r in rets:
        state[0]["count"] += 1
        got.append(reward_nb(params, state[0], ring, r, np.log1p(r)))
    ref = _reward_reference(rets, kind, 0.05, 3.0, 6)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-13)


def test_esg_adjustment_against_formula():
    w = np.array([0.5, 0.3, 0.0])
    q = np.array([80.0, 60.0, 40.0])
    s, m = (w @ q) / w.sum(), q.mean()
    assert esg_adjust_nb(w, q, 0.02, 0.5, 0.1) == pytest.approx(0.5 * 0.02 * (s - m) / m)
    low = np.array([0.0, 0.2, 0.6])
    assert esg_adjust_nb(low, q, 0.02, 0.5, 0.1) == pytest.approx(-0.1 * 0.02)
    assert esg_adjust_nb(w, q, -0.02, 0.5, 0.1) == 0.0  # no grant or tax on a loss
    assert esg_adjust_nb(np.zeros(3), q, 0.02, 0.5, 0.1) == 0.0  # all cash


def test_impact_models_against_formulas():
    assert impact_nb(IMPACT_NONE, 1.0, 0.5, 0.01, 0.05) == 0.0
    assert impact_nb(IMPACT_LINEAR, 2e-3, 0.5, 0.01, 0.05) == pytest.approx(1e-3)
    assert impact_nb(IMPACT_SQRT, 0.8, 0.25, 0.01, 0.05) == pytest.approx(0.8 * 0.01 * 0.5)
    assert impact_nb(IMPACT_LINEAR, 1.0, 10.0, 0.01, 0.05) == 0.05  # capped
    assert impact_nb(IMPACT_SQRT, 1.0, np.inf, 0.01, 0.05) == 0.05  # no volume: the cap


def _buffers(n, obs_dim, k=5):
    return Buffers(
        np.zeros((1, 2)),
        np.zeros((1, BOOK_ROWS, n)),
        np.zeros(1, dtype=STATE_DTYPE),
        np.zeros((1, k)),
        np.zeros((1, n), dtype=TRADE_DTYPE),
        np.zeros((1, obs_dim), dtype=np.float32),
        np.zeros(1, dtype=OUT_DTYPE),
    )


def test_portfolio_step_kernel_one_bar_and_episode_end():
    rng = np.random.default_rng(1)
    n, T = 3, 12
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, n)), axis=0))
    exec_prices = close * np.exp(rng.normal(0, 0.002, (T, n)))
    winfeat = np.zeros((0, T, n), dtype=np.float32)
    ptfeat = np.zeros((0, T, n), dtype=np.float32)
    params = _params(
        fees=0.002, slippage=0.001, init_cash=1e5, mode=MODE_WEIGHTS, max_leverage=1.0, window=1
    )
    bufs = _buffers(n, n + 1)
    _, book, state, _, _, obs, out = bufs
    market = Market(exec_prices, close, winfeat, ptfeat, np.zeros((1, 1)))
    w = np.array([0.2, 0.3, 0.4])
    assert step_one_nb(w, params, market, bufs) == DONE  # no episode yet
    reset_env_nb(0, 4, 6, params, market, bufs)
    np.testing.assert_array_equal(obs[0], [0, 0, 0, 1])
    assert step_one_nb(w, params, market, bufs) == OK
    ref_equity, ref_cash, ref_pos, ref_paid = _fill_reference(
        1e5, np.zeros(n), w, exec_prices[5], close[5], 0.002, 0.001
    )
    o = out[0]
    assert o["equity"] == pytest.approx(ref_equity, rel=1e-12)
    assert o["fees"] == pytest.approx(ref_paid, rel=1e-12)
    assert o["reward"] == pytest.approx(np.log(ref_equity / 1e5), rel=1e-12)
    assert o["row"] == 5 and o["done"] == 0.0
    np.testing.assert_array_equal(book[0, TGT], w)
    held = np.append(ref_pos * close[5], ref_cash) / ref_equity
    np.testing.assert_allclose(obs[0], held, rtol=1e-6)
    assert state[0]["t"] == 5 and state[0]["count"] == 1
    assert step_one_nb(w, params, market, bufs) == OK and out[0]["done"] == 2.0  # truncated
    assert step_one_nb(w, params, market, bufs) == DONE


@pytest.mark.parametrize("impact", [IMPACT_NONE, IMPACT_LINEAR, IMPACT_SQRT])
def test_hft_step_kernel_with_impact_against_hand_computation(impact):
    rng = np.random.default_rng(2)
    T = 30
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, (T, 1)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.0005, (T, 1)))
    mean_volume = rng.uniform(500, 1500, T)
    sigma = rng.uniform(0.0005, 0.002, T)
    coef = {IMPACT_NONE: 0.0, IMPACT_LINEAR: 0.002, IMPACT_SQRT: 0.8}[impact]
    params = _params(
        fees=0.0005, init_cash=1e5, impact=impact, impact_coef=coef, max_impact=0.05, window=1
    )
    levels = np.array([-1.0, 0.0, 0.6, 1.0])
    winfeat = np.zeros((0, T, 1), dtype=np.float32)
    ptfeat = np.zeros((0, T, 1), dtype=np.float32)
    bufs = _buffers(1, 3)
    trades, obs, out = bufs.trades, bufs.obs, bufs.out
    market = Market(open_, close, winfeat, ptfeat, np.stack([mean_volume, sigma]))
    reset_env_nb(0, 10, 20, params, market, bufs)
    assert hft_step_nb(9, levels, params, market, bufs) != OK  # not a level
    assert hft_step_nb(2, levels, params, market, bufs) == OK
    p = open_[11, 0]
    units = 0.6 * 1e5 / p
    rho = units / mean_volume[10]
    conc = {
        IMPACT_NONE: 0.0,
        IMPACT_LINEAR: coef * rho,
        IMPACT_SQRT: coef * sigma[10] * np.sqrt(rho),
    }[impact]
    cash = 1e5 - units * p * (1 + conc) * (1 + 0.0005)
    assert out[0]["equity"] == pytest.approx(cash + units * close[11, 0], rel=1e-10)
    assert out[0]["extra"] == pytest.approx(units * p * conc, rel=1e-9, abs=1e-12)
    assert trades[0, 0]["price"] == pytest.approx(p * (1 + conc), rel=1e-12)
    assert obs[0, -1] == pytest.approx((20 - 11) / (20 - 10))  # fraction of the episode left
