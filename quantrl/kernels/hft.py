"""HFT environment kernel: one single-asset step to a target position level with market impact.

It shares the state records of ``quantrl.kernels.env_state`` and the account step and step
closing of ``quantrl.kernels.envs``.
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
    level: int,
    levels: np.ndarray,
    params: np.ndarray,
    exec_prices: np.ndarray,
    close: np.ndarray,
    mean_volume: np.ndarray,
    sigma: np.ndarray,
    winfeat: np.ndarray,
    ptfeat: np.ndarray,
    account: np.ndarray,
    book: np.ndarray,
    state: np.ndarray,
    ring: np.ndarray,
    trades: np.ndarray,
    obs: np.ndarray,
    out: np.ndarray,
) -> int:
    """One single-asset step to the target position ``levels[level]`` with market impact.

    The order decided at row t trades ``dq`` units at row t + 1; its participation
    ``|dq| / mean_volume[t]`` (mean base volume of the bars up to t) sets the impact
    (``impact_nb``, with ``sigma[t]``), charged as extra slippage on the fill price.
    ``out[0].extra`` is the impact cost (units times price times impact); the last observation
    entry is the fraction of the episode left.
    """
    st = state[0]
    t = st.t
    end = st.end
    if t >= end:
        return DONE
    if level < 0 or level >= levels.shape[0]:
        return BAD_ACTION
    p = params[0]
    tgt = book[0, TGT]
    tgt[0] = levels[level]
    b = t + 1
    prev = st.equity
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
        impact = impact_nb(p.impact, p.impact_coef, rho, sigma[t], p.max_impact)
    equity, paid, n_fills = account_bar_nb(
        b, exec_prices[b], close[b], tgt, acc, book[0], params, impact, trades[0]
    )
    turnover = 0.0
    impact_cost = 0.0
    for k in range(n_fills):
        turnover += trades[0, k]["size"] * trades[0, k]["price"]
        impact_cost += trades[0, k]["size"] * price * impact
    finish_step_nb(
        0,
        equity,
        prev,
        paid,
        turnover,
        impact_cost,
        params,
        winfeat,
        ptfeat,
        account,
        book,
        state,
        ring,
        obs,
        out,
    )
    o = obs[0]
    o[o.shape[0] - 1] = (end - b) / (end - st.start)
    return OK
