"""Derived fields: explicit, opt-in stand-ins for fields a data source lacks (a ``vwap`` proxy).

A derived field is never added behind the user's back: the caller asks for it, and the new
panel records what was derived and how in ``panel.meta["derived_fields"]`` (field -> note), so a
report can say that Alpha158's ``VWAP0`` was computed on a proxy and not on traded VWAP.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from quantrl.data.panel import Panel
from quantrl.errors import ConfigError, DataError

__all__ = ["VWAP_PROXIES", "with_vwap_proxy"]

VwapMethod = Literal["typical", "ohlc4"]

VWAP_PROXIES: dict[str, tuple[tuple[str, ...], str]] = {
    "typical": (("high", "low", "close"), "typical price (high+low+close)/3, a proxy"),
    "ohlc4": (("open", "high", "low", "close"), "OHLC average (open+high+low+close)/4, a proxy"),
}
"""Proxy method -> (fields averaged, the note recorded in ``meta["derived_fields"]``)."""


def with_vwap_proxy(
    panel: Panel, method: VwapMethod = "typical", *, replace: bool = False
) -> Panel:
    """A copy of ``panel`` with a ``vwap`` field averaged from its bars, recorded in its meta.

    ``"typical"`` is ``(high + low + close) / 3``, ``"ohlc4"`` ``(open + high + low + close) / 4``;
    a bar missing any of them gets NaN. A panel that already has ``vwap`` keeps it unless
    ``replace=True`` (a proxy never silently overwrites traded VWAP: ConfigError).
    """
    if method not in VWAP_PROXIES:
        raise ConfigError(
            f"unknown vwap proxy method {method!r}; choose one of {', '.join(VWAP_PROXIES)}"
        )
    if "vwap" in panel.fields and not replace:
        raise ConfigError(
            "the panel already has a vwap field; pass replace=True to overwrite it with a proxy"
        )
    names, note = VWAP_PROXIES[method]
    missing = [f for f in names if f not in panel.fields]
    if missing:
        raise DataError(
            f"a {method} vwap proxy needs field(s) {', '.join(missing)}; "
            f"the panel has {', '.join(panel.fields)}",
            rule="field missing",
        )
    total = np.zeros(panel.shape)
    for name in names:
        total += panel.fields[name]
    vwap = total / len(names)
    fields = dict(panel.fields)
    fields["vwap"] = vwap
    meta = dict(panel.meta)
    meta["derived_fields"] = {**dict(meta.get("derived_fields", {})), "vwap": note}
    return panel.replace(fields=fields, meta=meta)
