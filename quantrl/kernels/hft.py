"""HFT environment kernel: one single-asset step to a target position level with market impact.

It shares the state layout, parameter slots and account step of ``quantrl.kernels.envs``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantrl.kernels.envs import (
    BAD_ACTION,
    DEBT,
    DONE,
    I_IMPACT,
    I_REWARD,
    I_WINDOW,
    MARK,
    OK,
    P_ETA,
    P_FEES,
    P_FIXED,
    P_IMPACT,
    P_LAMBDA,
    P_MAX_IMPACT,
    P_MIN_SIZE,
    P_SLIP,
    P_THRESHOLD,
    POS,
    S_COUNT,
    S_END,
    S_EQUITY,
    S_START,
    S_T,
    TGT,
    WORK,
    account_bar_nb,
    reward_nb,
    write_obs_nb,
)

# impact models
IMPACT_NONE = 0
IMPACT_LINEAR = 1
IMPACT_SQRT = 2


@njit(cache=True)
def impact_nb(kind: int, coef: float, participation: float, sigma: float, cap: float) -> float:
    """Price concession of an order as a fraction of price (``quantrl.envs.hft`` documents it).

    ``IMPACT_LINEAR``: ``coef * participation``; ``IMPACT_SQRT``: ``coef * sigma *
    sqrt(participation)`` (the square-root law); capped at ``cap``.
    """
    if kind == IMPACT_NONE or participation <= 0:
        return 0.0
    if np.isinf(participation) or np.isnan(participation):
        return cap
    if kind == IMPACT_LINEAR:
        value = coef * participation
    else:
        value = coef * sigma * np.sqrt(participation)
    return min(value, cap)


@njit(cache=True)
def hft_step_nb(
    level: int,
    levels: np.ndarray,
    fp: np.ndarray,
    ip: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    mean_volume: np.ndarray,
    sigma: np.ndarray,
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
    """One single-asset step to the target position ``levels[level]`` with market impact.

    The order decided at row t trades ``dq`` units at row t + 1; its participation
    ``|dq| / mean_volume[t]`` (mean base volume of the bars up to t) sets the impact
    (``impact_nb``, with ``sigma[t]``), charged as extra slippage on the fill price. Writes
    ``out[0] = [reward, equity, fees, log_return, turnover, done, row, impact]``.
    """
    t = int(scal[0, S_T])
    end = int(scal[0, S_END])
    if t >= end:
        return DONE
    if level < 0 or level >= levels.shape[0]:
        return BAD_ACTION
    tgt = book[0, TGT]
    tgt[0] = levels[level]
    b = t + 1
    prev = scal[0, S_EQUITY]
    acc = account[0]
    pos = book[0, POS, 0]
    price = exec_prices[b, 0]
    impact = 0.0
    if not np.isnan(price):
        value = acc[0] + pos * price
        dq = abs(tgt[0] * value / price - pos)
        if dq == 0:
            rho = 0.0
        elif mean_volume[t] > 0:
            rho = dq / mean_volume[t]
        else:
            rho = np.inf
        impact = impact_nb(ip[I_IMPACT], fp[P_IMPACT], rho, sigma[t], fp[P_MAX_IMPACT])
    equity, paid, n_fills = account_bar_nb(
        b,
        exec_prices[b],
        close[b],
        tgt,
        acc,
        book[0, POS],
        book[0, DEBT],
        book[0, MARK],
        fp[P_FEES],
        fp[P_FIXED],
        fp[P_SLIP] + impact,
        fp[P_MIN_SIZE],
        fp[P_THRESHOLD],
        trades[0],
        book[0, WORK:],
    )
    turnover = 0.0
    impact_cost = 0.0
    for k in range(n_fills):
        notional = trades[0, k]["size"] * trades[0, k]["price"]
        turnover += notional
        impact_cost += trades[0, k]["size"] * price * impact
    ret = equity / prev - 1.0 if prev > 0 else 0.0
    log_ret = np.log(equity / prev) if equity > 0 and prev > 0 else -np.inf
    scal[0, S_T] = b
    scal[0, S_EQUITY] = equity
    scal[0, S_COUNT] += 1.0
    reward = reward_nb(ip[I_REWARD], ret, log_ret, fp[P_ETA], fp[P_LAMBDA], scal[0], ring[0])
    if not np.isfinite(reward):
        reward = -1.0 if not np.isnan(reward) else 0.0
    o = obs[0]
    write_obs_nb(b, ip[I_WINDOW], winfeat, ptfeat, book[0, POS], book[0, MARK], acc[0], equity, o)
    start = scal[0, S_START]
    o[o.shape[0] - 1] = (end - b) / (end - start)
    out[0, 0] = reward
    out[0, 1] = equity
    out[0, 2] = paid
    out[0, 3] = log_ret
    out[0, 4] = turnover / prev if prev > 0 else 0.0
    out[0, 5] = 1.0 if equity <= 0 else (2.0 if b >= end else 0.0)
    if equity <= 0:
        scal[0, S_END] = b
    out[0, 6] = b
    out[0, 7] = impact_cost
    return OK
