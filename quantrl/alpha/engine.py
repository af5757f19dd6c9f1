"""Evaluate expression trees on a Panel, memoising sub-expressions by canonical string."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from quantrl.alpha.expr import Constant, Expr, Feature, Op
from quantrl.alpha.parser import parse
from quantrl.errors import ConfigError, FormulaError


class EvalCache:
    """Memo of evaluated sub-expressions for one panel, keyed by canonical string.

    The cache binds to the first panel it sees (by identity, held weakly); using it with another
    panel clears it. Entries are read-only arrays; the least recently used are dropped once
    ``max_bytes`` is exceeded.
    """

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        if max_bytes <= 0:
            raise ConfigError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._panel: weakref.ReferenceType[Any] | None = None
        self._panel_id: int | None = None
        self._store: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def bind(self, panel: Any) -> None:
        """Attach to ``panel``; forget everything computed on a different panel."""
        current = self._panel() if self._panel is not None else None
        if current is panel and self._panel_id == id(panel):
            return
        self.clear()
        try:
            self._panel = weakref.ref(panel)
        except TypeError:
            self._panel = None
        self._panel_id = id(panel)

    def get(self, key: str) -> np.ndarray | None:
        """Cached array for a canonical string, or None."""
        arr = self._store.get(key)
        if arr is None:
            self.misses += 1
            return None
        self.hits += 1
        self._store.move_to_end(key)
        return arr

    def put(self, key: str, value: np.ndarray) -> None:
        """Store a (read-only) array, evicting least recently used entries beyond the budget."""
        if key in self._store:
            return
        self._store[key] = value
        self._bytes += value.nbytes
        while self._bytes > self.max_bytes and len(self._store) > 1:
            _, old = self._store.popitem(last=False)
            self._bytes -= old.nbytes

    def discard(self, key: str) -> None:
        """Drop one entry if present."""
        arr = self._store.pop(key, None)
        if arr is not None:
            self._bytes -= arr.nbytes

    def clear(self) -> None:
        """Drop every entry."""
        self._store.clear()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by cached arrays."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return str(key) in self._store


def _field(panel: Any, node: Feature, root: Expr) -> np.ndarray:
    name = node.name
    if name not in panel:
        text = str(root)
        available = ", ".join("$" + f for f in _names(panel))
        raise FormulaError(
            f"unknown feature ${name}; the panel has {available}",
            formula=text,
            position=max(text.find("$" + name), 0),
        )
    return np.asarray(panel[name], dtype=np.float64)


def _names(panel: Any) -> Iterable[str]:
    names = list(getattr(panel, "field_names", ()))
    names += list(getattr(panel, "extras", {}).keys())
    return names


def _readonly(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a.setflags(write=False)
    return a


def _uses(node: Expr, counts: dict[str, int]) -> dict[str, int]:
    """How many parents read each operator sub-expression (by canonical string) in a tree."""
    for child in getattr(node, "children", ()):
        if isinstance(child, Op):
            key = str(child)
            seen = key in counts
            counts[key] = counts.get(key, 0) + 1
            if not seen:
                _uses(child, counts)
    return counts


def _evaluate_node(
    node: Expr,
    panel: Any,
    memo: EvalCache,
    root: Expr,
    shape: tuple[int, int],
    pending: dict[str, int] | None = None,
) -> Any:
    if isinstance(node, Constant):
        return node.value
    if isinstance(node, Feature):
        arr = _field(panel, node, root)
        if arr.shape != shape:
            raise FormulaError(f"field ${node.name} has shape {arr.shape}, expected {shape}")
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        if arr.flags.writeable:
            arr = arr.view()
            arr.setflags(write=False)
        return arr
    key = str(node)
    hit = memo.get(key)
    if hit is not None:
        return hit
    assert isinstance(node, Op)
    args = [_evaluate_node(c, panel, memo, root, shape, pending) for c in node.children]
    out = node.spec.compute(args, node.params)
    if pending is not None:  # a private memo: free inputs no other parent will read
        del args
        for child in node.children:
            if isinstance(child, Op):
                child_key = str(child)
                pending[child_key] -= 1
                if pending[child_key] == 0:
                    memo.discard(child_key)
    out = np.asarray(out, dtype=np.float64)
    if out.shape != shape:
        out = np.broadcast_to(out, shape).copy()
    if not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)
    out = _readonly(out)
    memo.put(key, out)
    return out


def evaluate(
    expr: Expr | str,
    panel: Any,
    *,
    cache: EvalCache | None = None,
    allow_future: bool = False,
) -> np.ndarray:
    """Evaluate a formula on a panel -> float64 (T, N), read-only (copy it to modify).

    Row t depends only on rows <= t (unless ``allow_future`` admits a negative Ref for labels);
    the first ``expr.lookback`` rows are NaN. Pass one ``EvalCache`` across calls to share
    sub-expressions between formulas on the same panel.
    """
    node = parse(expr, allow_future=allow_future)
    if node.future and not allow_future:
        raise FormulaError(
            "formula reads future rows (negative Ref); pass allow_future=True for labels",
            formula=str(node),
            position=0,
        )
    shape = (int(panel.n_dates), int(panel.n_symbols))
    memo = cache if cache is not None else EvalCache()
    memo.bind(panel)
    # without a shared cache, intermediates are freed as soon as their last parent has read
    # them, so the next operator's output reuses memory that is still in the CPU caches
    pending = _uses(node, {}) if cache is None else None
    out = _evaluate_node(node, panel, memo, node, shape, pending)
    if not isinstance(out, np.ndarray):
        full = np.full(shape, float(out))
        return _readonly(full)
    return out


def evaluate_many(
    exprs: Iterable[Expr | str],
    panel: Any,
    *,
    cache: EvalCache | None = None,
) -> list[np.ndarray]:
    """Evaluate several formulas on one panel, sharing a cache of sub-expressions."""
    memo = cache if cache is not None else EvalCache()
    return [evaluate(e, panel, cache=memo) for e in exprs]
