"""HFT environment kernel: one single-asset step to a target position level with market impact.

It shares the state records and tuples of ``quantrl.kernels.env_state`` and the account step,
reset and step closing of ``quantrl.kernels.envs``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantrl.kernels.env_state import (
    BAD_ACTION,
    DONE,
    IMPACT_LINEAR,
    IMPACT_NONE,
    IMPACT_SQRT,
    OK,
    POS,
    TGT,
    Buffers,
    Market,
)
from quantrl.kernels.envs import account_bar_nb, finish_step_nb

__all__ = ["IMPACT_LINEAR", "IMPACT_NONE", "IMPACT_SQRT", "hft_step_nb", "impact_nb"]


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
    level: int, levels: np.ndarray, params: np.ndarray, market: Market, bufs: Buffers
) -> int:
    """One single-asset step to the target position ``levels[level]`` with market impact.

    The order decided at row t trades ``dq`` units at row t + 1; its participation
    ``|dq| / V_t`` (``V = market.extra[0]``, the mean base volume of the bars up to t) sets the
    impact (``impact_nb``, with ``sigma = market.extra[1]``), charged as extra slippage on the
    fill price. ``out[0].extra`` is the impact cost (units times price times impact); the last
    observation entry is the fraction of the episode left.
    """
    st = bufs.state[0]
    t = st.t
    end = st.end
    if t >= end:
        return DONE
    if level < 0 or level >= levels.shape[0]:
        return BAD_ACTION
    p = params[0]
    book = bufs.book
    tgt = book[0, TGT]
    tgt[0] = levels[level]
    b = t + 1
    prev = st.equity
    acc = bufs.account[0]
    pos = book[0, POS, 0]
    exec_row = market.exec_prices[b]
    price = exec_row[0]
    impact = 0.0
    if not np.isnan(price):
        value = acc[0] + pos * price
        dq = abs(tgt[0] * value / price - pos)
        mean_volume = market.extra[0, t]
        if dq == 0:
            rho = 0.0
        elif mean_volume > 0:
            rho = dq / mean_volume
        else:
            rho = np.inf
        impact = impact_nb(p.impact, p.impact_coef, rho, market.extra[1, t], p.max_impact)
    trades = bufs.trades[0]
    equity, paid, n_fills = account_bar_nb(
        b, exec_row, market.close[b], tgt, acc, book[0], params, impact, trades
    )
    turnover = 0.0
    impact_cost = 0.0
    for k in range(n_fills):
        turnover += trades[k]["size"] * trades[k]["price"]
        impact_cost += trades[k]["size"] * price * impact
    finish_step_nb(0, equity, prev, paid, turnover, impact_cost, params, market, bufs)
    o = bufs.obs[0]
    o[o.shape[0] - 1] = (end - b) / (end - st.start)
    return OK
