"""Environment kernels: one trading-env step on the shared account kernel, single or batched.

Every environment step goes through ``account_bar_nb``, which performs exactly the per-bar work of
``quantrl.kernels.portfolio.simulate_weights_nb`` (mark at the fill price, ``rebalance_bar_nb``,
mark at the close), so an environment and the backtester agree to the last bit.

A kernel takes the ``params`` record (``PARAMS_DTYPE`` (1,), shared by a batch), the
``Market`` arrays and the ``Buffers`` of E environments (``quantrl.kernels.env_state``):
``account`` (cash, free cash), ``book`` (rows ``POS`` units held, ``DEBT`` short entry value,
``MARK`` latest known price, ``TGT`` the risky target weights of the last action, then from
``WORK`` on the scratch rows of ``rebalance_bar_nb``), the ``state`` records, the return
``ring`` (rolling rewards), a ``trades`` buffer for one bar's fills, the ``obs`` rows and the
``out`` records.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.env_state import (
    BAD_ACTION,
    BAD_SCALE,
    BOOK_ROWS,
    DEBT,
    DONE,
    MARK,
    MODE_LONG_SHORT,
    MODE_SOFTMAX,
    MODE_WEIGHTS,
    OK,
    POS,
    REWARD_DSR,
    REWARD_LOG,
    REWARD_RISK,
    REWARD_SHARPE,
    TGT,
    WORK,
    Buffers,
    Market,
)
from quantrl.kernels.portfolio import portfolio_value_nb, rebalance_bar_nb

__all__ = [
    "BAD_ACTION",
    "BAD_SCALE",
    "BOOK_ROWS",
    "DONE",
    "MODE_LONG_SHORT",
    "MODE_SOFTMAX",
    "MODE_WEIGHTS",
    "OK",
    "POS",
    "REWARD_DSR",
    "REWARD_LOG",
    "REWARD_RISK",
    "REWARD_SHARPE",
    "TGT",
    "account_bar_nb",
    "action_to_targets_nb",
    "esg_adjust_nb",
    "finish_step_nb",
    "reset_batch_nb",
    "reset_env_nb",
    "reward_nb",
    "step_batch_nb",
    "step_batch_serial_nb",
    "step_env_nb",
    "step_one_nb",
    "write_obs_nb",
]


@njit(cache=True)
def account_bar_nb(
    bar: int,
    exec_row: np.ndarray,
    close_row: np.ndarray,
    targets: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    params: np.ndarray,
    extra_slippage: float,
    trades: np.ndarray,
) -> tuple[float, float, int]:
    """Trade to ``targets`` at ``exec_row`` prices, then mark at ``close_row``.

    The same steps as one bar of ``simulate_weights_nb`` on the rows of ``book`` (BOOK_ROWS, N),
    with the costs of ``params[0]`` (``extra_slippage`` is added to its slippage: market impact).
    Returns ``(equity, fees paid, number of fills)``.
    """
    p = params[0]
    positions = book[POS]
    mark = book[MARK]
    n = positions.shape[0]
    any_order = False
    for j in range(n):
        px = exec_row[j]
        if not np.isnan(px):
            mark[j] = px
            if not np.isnan(targets[j]):
                any_order = True
    n_fills = 0
    paid = 0.0
    if any_order:
        n_fills = rebalance_bar_nb(
            bar,
            account,
            positions,
            book[DEBT],
            mark,
            exec_row,
            targets,
            p.fees,
            p.fixed_fees,
            p.slippage + extra_slippage,
            p.min_size,
            p.threshold,
            trades,
            0,
            book[WORK:],
        )
        for k in range(n_fills):
            paid += trades[k]["fees"]
    for j in range(n):
        c = close_row[j]
        if not np.isnan(c):
            mark[j] = c
    return portfolio_value_nb(account[0], positions, mark), paid, n_fills


@njit(cache=True)
def action_to_targets_nb(action: np.ndarray, params: np.ndarray, out: np.ndarray) -> int:
    """Map an action to risky target weights in ``out`` (N,); returns a status code.

    ``MODE_SOFTMAX``: N + 1 scores (assets, then cash), ``w = softmax(temperature * a)``, the
    first N are the targets (long-only, the rest is cash). ``MODE_LONG_SHORT``: N scores clipped
    to [-1, 1] and scaled so that the gross weight is at most ``max_leverage``.
    ``MODE_WEIGHTS``: the N target weights themselves, scaled down to a gross weight of
    ``max_leverage`` when above it. Non-finite values give ``BAD_ACTION``; weights whose gross
    sum overflows give ``BAD_SCALE``.
    """
    p = params[0]
    m = action.shape[0]
    for i in range(m):
        if not np.isfinite(action[i]):
            return BAD_ACTION
    n = out.shape[0]
    mode = p.mode
    max_leverage = p.max_leverage
    if mode == MODE_SOFTMAX:
        temperature = p.temperature
        top = action[0]
        for i in range(1, m):
            if action[i] > top:
                top = action[i]
        total = 0.0
        for j in range(n):
            x = np.exp(temperature * (action[j] - top))
            out[j] = x
            total += x
        for i in range(n, m):
            total += np.exp(temperature * (action[i] - top))
        inv = 1.0 / total
        for j in range(n):
            out[j] *= inv
    elif mode == MODE_LONG_SHORT:
        gross = 0.0
        for j in range(n):
            gross += abs(min(max(action[j], -1.0), 1.0))
        scale = 1.0
        if gross > max_leverage:
            scale = max_leverage / gross
        for j in range(n):
            out[j] = min(max(action[j], -1.0), 1.0) * scale
    else:
        gross = 0.0
        for j in range(n):
            gross += abs(action[j])
        if not np.isfinite(gross):
            return BAD_SCALE
        scale = max_leverage / gross if gross > max_leverage else 1.0
        for j in range(n):
            out[j] = action[j] * scale
    return OK


@njit(cache=True)
def reward_nb(
    params: np.ndarray, st: np.void, ring: np.ndarray, ret: float, log_ret: float
) -> float:
    """Reward of one step from the simple return ``ret`` (see ``quantrl.envs.rewards``).

    ``st`` is the environment's ``STATE_DTYPE`` record: its step ``count`` (already counting
    this step), differential-Sharpe moments and ring position are updated with ``ring``.
    """
    p = params[0]
    kind = p.reward
    k = ring.shape[0]
    pos = st.ring_pos
    ring[pos] = ret
    st.ring_pos = (pos + 1) % k
    n_ring = min(st.count, k)
    if kind == REWARD_LOG:
        return log_ret
    if kind == REWARD_DSR:
        a_prev = st.dsr_a
        b_prev = st.dsr_b
        d_a = ret - a_prev
        d_b = ret * ret - b_prev
        st.dsr_a = a_prev + p.eta * d_a
        st.dsr_b = b_prev + p.eta * d_b
        var = b_prev - a_prev * a_prev
        if var <= 1e-12:
            return 0.0
        return (b_prev * d_a - 0.5 * a_prev * d_b) / var**1.5
    mean = 0.0
    for i in range(n_ring):
        mean += ring[i]
    mean /= max(n_ring, 1)
    var = 0.0
    if n_ring >= 2:
        for i in range(n_ring):
            var += (ring[i] - mean) ** 2
        var /= n_ring - 1
    if kind == REWARD_SHARPE:
        if n_ring < 2 or var <= 1e-18:
            return 0.0
        return mean / np.sqrt(var)
    return log_ret - p.lam * var


ESG_SCORE_TOL = 1e-9


@njit(cache=True)
def esg_adjust_nb(
    targets: np.ndarray, quality: np.ndarray, ret: float, gamma: float, theta: float
) -> float:
    """ESG grant minus tax on the period return ``ret``, as a fraction of the previous equity.

    ``s = sum(w q) / sum(w)``, ``m = mean(q)``, ``g = gamma max(r, 0) max(s - m, 0) / m``,
    ``tax = theta max(r, 0) 1[s < m]``. Returns ``g - tax`` (0 when ``sum(w) <= 0``).
    Scores within ``ESG_SCORE_TOL`` (relative) of the market mean count as equal to it, so an
    equal-weight portfolio is not taxed on rounding noise.
    """
    if ret <= 0:
        return 0.0
    n = targets.shape[0]
    sw = 0.0
    swq = 0.0
    sq = 0.0
    for j in range(n):
        sw += targets[j]
        swq += targets[j] * quality[j]
        sq += quality[j]
    m = sq / n
    if sw <= 1e-12 or m <= 0:
        return 0.0
    s = swq / sw
    if abs(s - m) <= ESG_SCORE_TOL * m:
        s = m
    grant = gamma * ret * max(s - m, 0.0) / m
    tax = theta * ret if s < m else 0.0
    return grant - tax


@njit(cache=True)
def write_obs_nb(
    t: int,
    window: int,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    positions: np.ndarray,
    mark: np.ndarray,
    cash: float,
    equity: float,
    obs: np.ndarray,
) -> None:
    """Observation at row t: window features (Fw, W, N), point features (Fp, N), weights (N + 1)."""
    n = positions.shape[0]
    k = 0
    size = window * n
    lo = (t - window + 1) * n
    for f in range(winfeat.shape[0]):
        src = winfeat[f].reshape(-1)
        for i in range(size):  # a plain loop: slice assignment would check for overlap and copy
            obs[k + i] = src[lo + i]
        k += size
    for f in range(ptfeat.shape[0]):
        row = ptfeat[f, t]
        for j in range(n):
            obs[k + j] = row[j]
        k += n
    inv = 1.0 / equity if equity > 0 else 0.0
    for j in range(n):
        if positions[j] != 0 and not np.isnan(mark[j]):
            obs[k] = positions[j] * mark[j] * inv
        else:
            obs[k] = 0.0
        k += 1
    obs[k] = cash * inv


@njit(cache=True)
def reset_env_nb(
    e: int, start: int, end: int, params: np.ndarray, market: Market, bufs: Buffers
) -> None:
    """Start environment ``e`` at row ``start`` (all cash), ending at row ``end``."""
    p = params[0]
    close = market.close
    account = bufs.account
    book = bufs.book
    cash = p.init_cash
    account[e, 0] = cash
    account[e, 1] = cash
    n = close.shape[1]
    for j in range(n):
        book[e, POS, j] = 0.0
        book[e, DEBT, j] = 0.0
        book[e, TGT, j] = 0.0
        m = np.nan
        for i in range(start, -1, -1):
            if not np.isnan(close[i, j]):
                m = close[i, j]
                break
        book[e, MARK, j] = m
    st = bufs.state[e]
    st.t = start
    st.end = end
    st.start = start
    st.count = 0
    st.ring_pos = 0
    st.equity = cash
    st.dsr_a = 0.0
    st.dsr_b = 0.0
    ring = bufs.ring
    for i in range(ring.shape[1]):
        ring[e, i] = 0.0
    write_obs_nb(
        start,
        p.window,
        market.winfeat,
        market.ptfeat,
        book[e, POS],
        book[e, MARK],
        cash,
        cash,
        bufs.obs[e],
    )


@njit(cache=True)
def finish_step_nb(
    e: int,
    equity: float,
    prev: float,
    paid: float,
    turnover: float,
    extra: float,
    params: np.ndarray,
    market: Market,
    bufs: Buffers,
) -> None:
    """Close a step of environment ``e`` that filled at row ``t + 1`` with final ``equity``.

    Advances the state, computes the reward, writes the observation and the ``out`` record
    (``done``: 1 when equity is wiped out, which also ends the episode; 2 at its last row).
    """
    st = bufs.state[e]
    b = st.t + 1
    ret = equity / prev - 1.0 if prev > 0 else 0.0
    log_ret = np.log(equity / prev) if equity > 0 and prev > 0 else -np.inf
    st.t = b
    st.equity = equity
    st.count += 1
    reward = reward_nb(params, st, bufs.ring[e], ret, log_ret)
    if not np.isfinite(reward):
        reward = -1.0 if not np.isnan(reward) else 0.0
    book = bufs.book
    write_obs_nb(
        b,
        params[0].window,
        market.winfeat,
        market.ptfeat,
        book[e, POS],
        book[e, MARK],
        bufs.account[e, 0],
        equity,
        bufs.obs[e],
    )
    o = bufs.out[e]
    o.reward = reward
    o.equity = equity
    o.fees = paid
    o.log_return = log_ret
    o.turnover = turnover / prev if prev > 0 else 0.0
    o.done = 1.0 if equity <= 0 else (2.0 if b >= st.end else 0.0)
    if equity <= 0:
        st.end = b  # wiped out: the episode is over
    o.row = b
    o.extra = extra


@njit(cache=True)
def step_env_nb(
    e: int, action: np.ndarray, params: np.ndarray, market: Market, bufs: Buffers
) -> int:
    """One portfolio step of environment ``e``; returns a status code (``OK`` or an error).

    The action is turned into targets, filled at row t + 1 of ``market.exec_prices`` and marked
    at its close; with ``params.esg`` the ESG grant minus tax (``out.extra``, a return; quality
    scores in ``market.extra``) is paid into cash before the reward is computed.
    """
    st = bufs.state[e]
    t = st.t
    if t >= st.end:
        return DONE
    book = bufs.book
    tgt = book[e, TGT]
    status = action_to_targets_nb(action, params, tgt)
    if status != OK:
        return status
    b = t + 1
    prev = st.equity
    acc = bufs.account[e]
    trades = bufs.trades[e]
    equity, paid, n_fills = account_bar_nb(
        b, market.exec_prices[b], market.close[b], tgt, acc, book[e], params, 0.0, trades
    )
    turnover = 0.0
    for k in range(n_fills):
        turnover += trades[k]["size"] * trades[k]["price"]
    adj = 0.0
    p = params[0]
    if p.esg != 0 and prev > 0:
        adj = esg_adjust_nb(tgt, market.extra[b], equity / prev - 1.0, p.gamma, p.theta)
        if adj != 0.0:
            acc[0] += adj * prev
            acc[1] += adj * prev
            equity += adj * prev
    finish_step_nb(e, equity, prev, paid, turnover, adj, params, market, bufs)
    return OK


@njit(cache=True)
def step_one_nb(action: np.ndarray, params: np.ndarray, market: Market, bufs: Buffers) -> int:
    """``step_env_nb`` for a single environment (row 0 of every state array)."""
    return step_env_nb(0, action, params, market, bufs)


@njit(cache=True, inline="always")
def _step_autoreset_nb(
    e: int,
    actions: np.ndarray,
    params: np.ndarray,
    market: Market,
    bufs: Buffers,
    final_obs: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    length: int,
) -> None:
    """Step environment e and, when its episode ends, keep its final observation and restart it.

    The one body of ``step_batch_nb`` (threads) and ``step_batch_serial_nb`` (one thread).
    """
    st = step_env_nb(e, actions[e], params, market, bufs)
    status[e] = st
    if st == OK and bufs.out[e].done != 0.0:
        final_obs[e, :] = bufs.obs[e, :]
        reset_env_nb(e, starts[e], starts[e] + length, params, market, bufs)


@njit(cache=True, parallel=True)
def step_batch_nb(
    actions: np.ndarray,
    params: np.ndarray,
    market: Market,
    bufs: Buffers,
    final_obs: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    length: int,
) -> None:
    """Step E environments in parallel with same-step autoreset.

    Environment e takes ``actions[e]``; when its episode ends (``out[e].done != 0``) its final
    observation is copied to ``final_obs[e]`` and it restarts at row ``starts[e]`` for
    ``length`` steps, so ``obs[e]`` is already the first observation of the next episode.
    """
    for e in prange(actions.shape[0]):
        _step_autoreset_nb(e, actions, params, market, bufs, final_obs, status, starts, length)


@njit(cache=True)
def step_batch_serial_nb(
    actions: np.ndarray,
    params: np.ndarray,
    market: Market,
    bufs: Buffers,
    final_obs: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    length: int,
) -> None:
    """``step_batch_nb`` on one thread (no thread pool spinning next to other work)."""
    for e in range(actions.shape[0]):
        _step_autoreset_nb(e, actions, params, market, bufs, final_obs, status, starts, length)


@njit(cache=True)
def reset_batch_nb(
    starts: np.ndarray, length: int, params: np.ndarray, market: Market, bufs: Buffers
) -> None:
    """Reset every environment e at row ``starts[e]`` for ``length`` steps."""
    for e in range(starts.shape[0]):
        reset_env_nb(e, starts[e], starts[e] + length, params, market, bufs)
