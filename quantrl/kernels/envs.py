"""Environment kernels: one trading-env step on the shared account kernel, single or batched.

Every environment step goes through ``account_bar_nb``, which performs exactly the per-bar work of
``quantrl.kernels.portfolio.simulate_weights_nb`` (mark at the fill price, ``rebalance_bar_nb``,
mark at the close), so an environment and the backtester agree to the last bit.

State of E environments (one row per environment):

* ``account`` float64 (E, 2): ``[cash, free_cash]``;
* ``book`` float64 (E, BOOK_ROWS, N): rows ``POS`` (units held), ``DEBT`` (short entry value),
  ``MARK`` (latest known price), ``TGT`` (the risky target weights of the last action), then from
  ``WORK`` on the scratch rows of ``rebalance_bar_nb``;
* ``scal`` float64 (E, S_SIZE): the scalars named ``S_*`` below;
* ``ring`` float64 (E, K): the last K simple returns of the episode (rolling rewards);
* ``trades``: a ``TRADE_DTYPE`` (E, N) scratch buffer for one bar's fills;
* ``obs`` float32 (E, D): the observation written after each step.

Parameters travel in ``fp`` (float64, the ``P_*`` slots) and ``ip`` (int64, the ``I_*`` slots).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantrl.kernels.portfolio import WORK_ROWS, portfolio_value_nb, rebalance_bar_nb

# book rows
POS = 0
DEBT = 1
MARK = 2
TGT = 3
WORK = 4
BOOK_ROWS = WORK + WORK_ROWS

# scalar state slots
S_T = 0  # current row (the last bar whose close the agent has seen)
S_END = 1  # last row of the episode
S_EQUITY = 2  # equity at the close of row S_T
S_A = 3  # differential Sharpe: EMA of returns
S_B = 4  # differential Sharpe: EMA of squared returns
S_COUNT = 5  # steps taken in the episode
S_RING = 6  # next write position in the return ring
S_START = 7  # first row of the episode
S_SIZE = 8

# float parameter slots
P_FEES = 0
P_FIXED = 1
P_SLIP = 2
P_MIN_SIZE = 3
P_THRESHOLD = 4
P_TEMP = 5
P_LEVERAGE = 6
P_ETA = 7
P_LAMBDA = 8
P_INIT_CASH = 9
P_GAMMA = 10
P_THETA = 11
P_IMPACT = 12
P_MAX_IMPACT = 13
P_SIZE = 14

# int parameter slots
I_MODE = 0
I_REWARD = 1
I_WINDOW = 2
I_ESG = 3
I_IMPACT = 4
I_SIZE = 5

# action modes
MODE_SOFTMAX = 0
MODE_LONG_SHORT = 1
MODE_WEIGHTS = 2

# reward kinds
REWARD_LOG = 0
REWARD_DSR = 1
REWARD_SHARPE = 2
REWARD_RISK = 3

# step status
OK = 0
BAD_ACTION = 1
BAD_LEVERAGE = 2
BAD_NEGATIVE = 3
DONE = 4


@njit(cache=True)
def account_bar_nb(
    bar: int,
    exec_row: np.ndarray,
    close_row: np.ndarray,
    targets: np.ndarray,
    account: np.ndarray,
    positions: np.ndarray,
    debts: np.ndarray,
    mark: np.ndarray,
    fees: float,
    fixed_fees: float,
    slippage: float,
    min_size: float,
    threshold: float,
    trades: np.ndarray,
    work: np.ndarray,
) -> tuple[float, float, int]:
    """Trade to ``targets`` at ``exec_row`` prices, then mark at ``close_row``.

    The same steps as one bar of ``simulate_weights_nb``; returns ``(equity, fees paid,
    number of fills)``.
    """
    n = positions.shape[0]
    any_order = False
    for j in range(n):
        p = exec_row[j]
        if not np.isnan(p):
            mark[j] = p
            if not np.isnan(targets[j]):
                any_order = True
    n_fills = 0
    paid = 0.0
    if any_order:
        n_fills = rebalance_bar_nb(
            bar,
            account,
            positions,
            debts,
            mark,
            exec_row,
            targets,
            fees,
            fixed_fees,
            slippage,
            min_size,
            threshold,
            trades,
            0,
            work,
        )
        for k in range(n_fills):
            paid += trades[k]["fees"]
    for j in range(n):
        c = close_row[j]
        if not np.isnan(c):
            mark[j] = c
    return portfolio_value_nb(account[0], positions, mark), paid, n_fills


@njit(cache=True)
def action_to_targets_nb(
    action: np.ndarray, mode: int, temperature: float, max_leverage: float, out: np.ndarray
) -> int:
    """Map an action to risky target weights in ``out`` (N,); returns a status code.

    ``MODE_SOFTMAX``: N + 1 scores (assets, then cash), ``w = softmax(temperature * a)``, the
    first N are the targets (long-only, the rest is cash). ``MODE_LONG_SHORT``: N scores clipped
    to [-1, 1] and scaled so that the gross weight is at most ``max_leverage``.
    ``MODE_WEIGHTS``: the N target weights themselves, scaled down to a gross weight of
    ``max_leverage`` when above it.
    """
    m = action.shape[0]
    for i in range(m):
        if not np.isfinite(action[i]):
            return BAD_ACTION
    n = out.shape[0]
    if mode == MODE_SOFTMAX:
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
        scale = max_leverage / gross if gross > max_leverage else 1.0
        for j in range(n):
            out[j] = action[j] * scale
    return OK


@njit(cache=True)
def reward_nb(
    kind: int,
    ret: float,
    log_ret: float,
    eta: float,
    lam: float,
    scal: np.ndarray,
    ring: np.ndarray,
) -> float:
    """Reward of one step from the simple return ``ret`` (see ``quantrl.envs.rewards``).

    Updates the differential-Sharpe moments and the return ring in ``scal`` / ``ring``.
    """
    k = ring.shape[0]
    pos = int(scal[S_RING])
    ring[pos] = ret
    scal[S_RING] = (pos + 1) % k
    count = scal[S_COUNT]
    n_ring = int(min(count, k))
    if kind == REWARD_LOG:
        return log_ret
    if kind == REWARD_DSR:
        a_prev = scal[S_A]
        b_prev = scal[S_B]
        d_a = ret - a_prev
        d_b = ret * ret - b_prev
        scal[S_A] = a_prev + eta * d_a
        scal[S_B] = b_prev + eta * d_b
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
    return log_ret - lam * var


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
    e: int,
    start: int,
    end: int,
    fp: np.ndarray,
    ip: np.ndarray,
    close: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    obs: np.ndarray,
) -> None:
    """Start environment ``e`` at row ``start`` (all cash), ending at row ``end``."""
    cash = fp[P_INIT_CASH]
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
    for i in range(scal.shape[1]):
        scal[e, i] = 0.0
    scal[e, S_T] = start
    scal[e, S_END] = end
    scal[e, S_START] = start
    scal[e, S_EQUITY] = cash
    for i in range(ring.shape[1]):
        ring[e, i] = 0.0
    write_obs_nb(
        start, ip[I_WINDOW], winfeat, ptfeat, book[e, POS], book[e, MARK], cash, cash, obs[e]
    )


@njit(cache=True)
def step_env_nb(
    e: int,
    action: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    quality: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    trades: np.ndarray,
    obs: np.ndarray,
    out: np.ndarray,
) -> int:
    """One portfolio step of environment ``e``; returns a status code (``OK`` or an error).

    Writes ``out[e] = [reward, equity, fees, log_return, turnover, done, row, esg]`` (``done``:
    0 no, 1 terminated, 2 truncated; ``esg``: grant minus tax as a return): the action is turned
    into targets, filled at row t + 1 of ``exec_prices`` and marked at its close; an ESG
    adjustment (``I_ESG``) is paid into cash before the reward is computed.
    """
    t = int(scal[e, S_T])
    end = int(scal[e, S_END])
    if t >= end:
        return DONE
    tgt = book[e, TGT]
    status = action_to_targets_nb(action, ip[I_MODE], fp[P_TEMP], fp[P_LEVERAGE], tgt)
    if status != OK:
        return status
    b = t + 1
    prev = scal[e, S_EQUITY]
    acc = account[e]
    equity, paid, n_fills = account_bar_nb(
        b,
        exec_prices[b],
        close[b],
        tgt,
        acc,
        book[e, POS],
        book[e, DEBT],
        book[e, MARK],
        fp[P_FEES],
        fp[P_FIXED],
        fp[P_SLIP],
        fp[P_MIN_SIZE],
        fp[P_THRESHOLD],
        trades[e],
        book[e, WORK:],
    )
    turnover = 0.0
    for k in range(n_fills):
        turnover += trades[e, k]["size"] * trades[e, k]["price"]
    ret = equity / prev - 1.0 if prev > 0 else 0.0
    adj = 0.0
    if ip[I_ESG] != 0:
        adj = esg_adjust_nb(tgt, quality[b], ret, fp[P_GAMMA], fp[P_THETA])
        if adj != 0.0:
            acc[0] += adj * prev
            acc[1] += adj * prev
            equity += adj * prev
            ret = equity / prev - 1.0
    log_ret = np.log(equity / prev) if equity > 0 and prev > 0 else -np.inf
    scal[e, S_T] = b
    scal[e, S_EQUITY] = equity
    scal[e, S_COUNT] += 1.0
    reward = reward_nb(ip[I_REWARD], ret, log_ret, fp[P_ETA], fp[P_LAMBDA], scal[e], ring[e])
    if not np.isfinite(reward):
        reward = -1.0 if not np.isnan(reward) else 0.0
    write_obs_nb(
        b,
        ip[I_WINDOW],
        winfeat,
        ptfeat,
        book[e, POS],
        book[e, MARK],
        acc[0],
        equity,
        obs[e],
    )
    out[e, 0] = reward
    out[e, 1] = equity
    out[e, 2] = paid
    out[e, 3] = log_ret
    out[e, 4] = turnover / prev if prev > 0 else 0.0
    out[e, 5] = 1.0 if equity <= 0 else (2.0 if b >= end else 0.0)
    if equity <= 0:
        scal[e, S_END] = b  # wiped out: the episode is over
    out[e, 6] = b
    out[e, 7] = adj
    return OK


@njit(cache=True)
def step_one_nb(
    action: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    quality: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    trades: np.ndarray,
    obs: np.ndarray,
    out: np.ndarray,
) -> int:
    """``step_env_nb`` for a single environment (row 0 of every state array)."""
    return step_env_nb(
        0,
        action,
        fp,
        ip,
        exec_prices,
        close,
        quality,
        winfeat,
        ptfeat,
        account,
        book,
        scal,
        ring,
        trades,
        obs,
        out,
    )


@njit(cache=True, inline="always")
def _step_autoreset_nb(
    e: int,
    actions: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    quality: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    trades: np.ndarray,
    obs: np.ndarray,
    final_obs: np.ndarray,
    out: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    length: int,
) -> None:
    """Step environment e and, when its episode ends, keep its final observation and restart it."""
    st = step_env_nb(
        e,
        actions[e],
        fp,
        ip,
        exec_prices,
        close,
        quality,
        winfeat,
        ptfeat,
        account,
        book,
        scal,
        ring,
        trades,
        obs,
        out,
    )
    status[e] = st
    if st == OK and out[e, 5] != 0.0:
        final_obs[e, :] = obs[e, :]
        reset_env_nb(
            e,
            starts[e],
            starts[e] + length,
            fp,
            ip,
            close,
            winfeat,
            ptfeat,
            account,
            book,
            scal,
            ring,
            obs,
        )


@njit(cache=True, parallel=True)
def step_batch_nb(
    actions: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    quality: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    trades: np.ndarray,
    obs: np.ndarray,
    final_obs: np.ndarray,
    out: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    length: int,
) -> None:
    """Step E environments in parallel with same-step autoreset.

    Environment e takes ``actions[e]``; when its episode ends (``out[e, 5] != 0``) its final
    observation is copied to ``final_obs[e]`` and it restarts at row ``starts[e]`` for
    ``length`` steps, so ``obs[e]`` is already the first observation of the next episode.
    """
    for e in prange(actions.shape[0]):
        _step_autoreset_nb(
            e,
            actions,
            fp,
            ip,
            exec_prices,
            close,
            quality,
            winfeat,
            ptfeat,
            account,
            book,
            scal,
            ring,
            trades,
            obs,
            final_obs,
            out,
            status,
            starts,
            length,
        )


@njit(cache=True)
def step_batch_serial_nb(
    actions: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    quality: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    trades: np.ndarray,
    obs: np.ndarray,
    final_obs: np.ndarray,
    out: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    length: int,
) -> None:
    """``step_batch_nb`` on one thread (no thread pool spinning next to other work)."""
    for e in range(actions.shape[0]):
        _step_autoreset_nb(
            e,
            actions,
            fp,
            ip,
            exec_prices,
            close,
            quality,
            winfeat,
            ptfeat,
            account,
            book,
            scal,
            ring,
            trades,
            obs,
            final_obs,
            out,
            status,
            starts,
            length,
        )


@njit(cache=True)
def reset_batch_nb(
    starts: np.ndarray,
    length: int,
    fp: np.ndarray,
    ip: np.ndarray,
    close: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    scal: np.ndarray,
    ring: np.ndarray,
    obs: np.ndarray,
) -> None:
    """Reset every environment e at row ``starts[e]`` for ``length`` steps."""
    for e in range(starts.shape[0]):
        reset_env_nb(
            e,
            starts[e],
            starts[e] + length,
            fp,
            ip,
            close,
            winfeat,
            ptfeat,
            account,
            book,
            scal,
            ring,
            obs,
        )
