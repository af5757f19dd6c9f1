"""Early stopping on validation for mining jobs: keep the chunk's pool that validated best.

With ``[budget] keep = "best_valid"`` the runner remembers, after every chunk, the pool whose
combined factor had the highest validation RankIC so far (``track_best``; the earliest of equal
scores). The search still spends its whole budget; at the end that pool replaces the last one
(``keep_best``) before it is saved, evaluated and registered. The snapshot travels in the
checkpoint, so a resumed run keeps the same pool as an uninterrupted one.

The kept pool's validation figures are chosen on: the choice looked at every chunk's validation
RankIC, so they overstate what the pool will do on new dates. ``pool.json`` records the choice
under ``"selection"`` (the chunk's formulas offered and steps, its validation RankIC, how many
chunks it was chosen from) and the registry's run message says it; the test split is the honest
figure. Every other chunk's validation evaluation the choice looked at is recorded as a ``pool``
trial on the validation split of the job's study (``record_chunk_trials``), so the ledger's
deflation counts them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from quantrl.errors import ConfigError, JobError
from quantrl.jobs.harness import MiningSetup
from quantrl.jobs.ledger import record_pool
from quantrl.jobs.store import Registry
from quantrl.mining.pool_file import checked_origins

__all__ = [
    "KEEP_RULE",
    "best_from_state",
    "keep_best",
    "record_chunk_trials",
    "selection_message",
    "track_best",
]

KEEP_RULE = "best_valid"
"""The ``[budget] keep`` value that turns early stopping on."""

_FIELDS = ("formulas", "weights", "steps", "n_formulas", "valid_rank_ic")


def track_best(setup: MiningSetup, info: Mapping[str, float]) -> bool:
    """Remember the pool when this chunk's validation RankIC (``info["valid_rank_ic"]``) beats
    every earlier chunk's; an empty pool or a NaN RankIC never does. Returns whether it did."""
    score = float(info["valid_rank_ic"])
    pool = setup.task.pool
    if not len(pool) or not math.isfinite(score):
        return False
    if setup.best is not None and not score > setup.best["valid_rank_ic"]:
        return False
    setup.best = {
        "formulas": list(pool.formulas),
        "weights": [float(w) for w in pool.weights],
        "steps": int(info["steps"]),
        "n_formulas": int(info["formulas"]),
        "valid_rank_ic": score,
        "origins": dict(pool.origins),
    }
    return True


def keep_best(setup: MiningSetup) -> dict[str, Any]:
    """Put the remembered pool back in place of the last one; returns what was chosen (the
    chunk's formulas offered and steps, its validation RankIC and the chunks compared). With no
    chunk remembered (every validation RankIC NaN) the last pool stays."""
    best = setup.best
    chunks = len(setup.curve)
    if best is None:
        return {"rule": KEEP_RULE, "chunks": chunks, "formulas": None, "steps": None}
    pool = setup.task.pool
    if (
        list(pool.formulas) != best["formulas"]
        or [float(w) for w in pool.weights] != best["weights"]
    ):
        pool.restore(best["formulas"], best["weights"])
        pool.origins = dict(best["origins"])
    return {
        "rule": KEEP_RULE,
        "chunks": chunks,
        "formulas": best["n_formulas"],
        "steps": best["steps"],
        "valid_rank_ic": best["valid_rank_ic"],
    }


def selection_message(selection: Mapping[str, Any]) -> str:
    """One line for the registry's run: which chunk's pool the job kept, and that its validation
    figures were chosen on."""
    if selection["formulas"] is None:
        return "kept the last pool: no chunk had a validation RankIC"
    return (
        f"kept the pool after {selection['formulas']} formulas, the best validation RankIC "
        f"({selection['valid_rank_ic']:.4f}) of {selection['chunks']} chunks; its validation "
        "figures were chosen on"
    )


def record_chunk_trials(
    registry: Registry, setup: MiningSetup, run_id: int, selection: Mapping[str, Any]
) -> int:
    """Record each chunk's validation IC / RankIC that the choice compared, other than the kept
    pool's (recorded with the run) and repeats of one pool's figures, as ``pool`` trials on the
    validation split; returns how many were recorded."""
    spec = setup.spec
    figures = {  # the kept pool's, recorded with the run
        (p["valid_ic"], p["valid_rank_ic"])
        for p in setup.curve
        if selection["formulas"] is not None and p["formulas"] == selection["formulas"]
    }
    count = 0
    for point in setup.curve:
        pair = (point["valid_ic"], point["valid_rank_ic"])
        if not math.isfinite(pair[1]) or pair in figures:
            continue
        figures.add(pair)
        record_pool(
            registry,
            spec.market,
            spec.name,
            {"valid": {"ic": pair[0], "rank_ic": pair[1]}},
            {"valid": setup.valid},
            setup.labels,
            {
                "run_id": run_id, "method": spec.method, "seed": spec.seed,
                "chunk_formulas": int(point["formulas"]), "keep": KEEP_RULE,
            },
        )  # fmt: skip
        count += 1
    return count


def best_from_state(raw: Any) -> dict[str, Any] | None:
    """The snapshot a checkpoint holds (None when absent); JobError when it is malformed."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"origins"} != set(_FIELDS):
        raise JobError(f"checkpoint best-chunk snapshot does not hold exactly {_FIELDS}")
    try:  # snapshots saved before members recorded their origins have none
        origins = checked_origins(raw.get("origins"), "checkpoint best-chunk snapshot")
    except ConfigError as exc:
        raise JobError(str(exc)) from None
    formulas, weights = raw["formulas"], raw["weights"]
    if not isinstance(formulas, list) or not all(isinstance(f, str) for f in formulas):
        raise JobError("checkpoint best-chunk snapshot: formulas are not a list of strings")
    if (
        not isinstance(weights, list)
        or len(weights) != len(formulas)
        or not all(_is_number(w) for w in weights)
    ):
        raise JobError("checkpoint best-chunk snapshot: weights are not one number per formula")
    numbers = ("steps", "n_formulas", "valid_rank_ic")
    if not all(_is_number(raw[k]) for k in numbers) or not math.isfinite(raw["valid_rank_ic"]):
        raise JobError("checkpoint best-chunk snapshot: steps, formulas or RankIC not a number")
    return {
        "formulas": list(formulas),
        "weights": [float(w) for w in weights],
        "steps": int(raw["steps"]),
        "n_formulas": int(raw["n_formulas"]),
        "valid_rank_ic": float(raw["valid_rank_ic"]),
        "origins": origins,
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
