"""A saved ``AlphaPool``: the JSON document a pool is written as, and reading it back.

The document holds the pool's settings (``SAVED_SETTINGS``), its training and validation
objectives, its members (formula, weight, training IC), the split metrics given and, for a job,
how the pool was selected. A file saved before a setting existed lacks its key and is read with
the behaviour it had then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantrl.data.cache import atomic_write_bytes
from quantrl.errors import ConfigError

__all__ = [
    "SAVED_SETTINGS",
    "checked_origins",
    "pool_document",
    "read_pool_file",
    "saved_origins",
    "saved_settings",
    "write_pool_file",
]

#: The settings a saved pool records: (JSON key, attribute, cast, value read when a file saved
#: before the setting existed lacks it: the behaviour it had then).
SAVED_SETTINGS: tuple[tuple[str, str, Any, Any], ...] = (
    ("capacity", "capacity", int, None),
    ("objective", "objective_name", str, "ic"),
    ("mutual_threshold", "mutual_threshold", float, 0.99),
    ("min_gain", "min_gain", float, 0.0),
    ("ridge", "ridge", float, 1e-8),
    ("transform", "transform", str, "zscore"),
    ("valid_min_gain", "valid_min_gain", float, 0.0),
    ("blocks", "blocks", int, 1),
    ("purge", "purge", int, 0),
    ("neutralize", "neutralize", lambda texts: [str(t) for t in texts], []),
    ("min_coverage", "min_coverage", float, 0.0),
    ("date_step", "date_step", int, 1),
    ("one_sided", "one_sided", float, 0.0),
    ("cv_gate", "cv_gate", str, "off"),
    ("t_gate", "t_gate", str, "off"),
    ("idle_constants", "idle_constants", bool, False),
)


def pool_document(
    pool: Any, members: list[dict[str, Any]], metrics: dict[str, dict[str, float]] | None
) -> dict[str, Any]:
    """The JSON-ready document of a pool: its settings, objectives, ``members`` and metrics; a
    member added in a simpler form records the formula offered (``pool.origins``)."""
    settings = {key: cast(getattr(pool, attr)) for key, attr, cast, _ in SAVED_SETTINGS}
    origins = getattr(pool, "origins", {})
    members = [
        {**m, "offered": origins[m["formula"]]} if m["formula"] in origins else m for m in members
    ]
    return {
        **settings,
        "train_objective": pool.objective,
        "valid_objective": pool.valid_objective,
        "members": members,
        "metrics": metrics or {},
    }


def saved_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Keyword settings of ``AlphaPool`` (all but the capacity) from a saved document."""
    return {key: cast(data.get(key, absent)) for key, _, cast, absent in SAVED_SETTINGS[1:]}


def saved_origins(data: dict[str, Any]) -> dict[str, str]:
    """Member formula -> formula offered, for the members a saved document says were simplified."""
    return {m["formula"]: str(m["offered"]) for m in data["members"] if "offered" in m}


def checked_origins(raw: Any, where: str) -> dict[str, str]:
    """Origins read back from a file (None: none); ConfigError naming ``where`` when they are not
    a mapping of formulas to formulas."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ConfigError(f"{where}: origins are not a mapping of member formulas to formulas")
    return dict(raw)


def write_pool_file(path: str | Path, data: dict[str, Any]) -> None:
    """Write a pool document as JSON atomically (temp file + rename)."""
    text = json.dumps(data, indent=2, allow_nan=True)
    atomic_write_bytes(Path(path), text.encode())


def read_pool_file(path: str | Path) -> dict[str, Any]:
    """Read a saved pool's document; a clear error when it is unreadable or not a pool."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read pool file {path}: {exc}") from exc
    if not isinstance(data, dict) or "members" not in data:
        raise ConfigError(f"{path} is not a saved AlphaPool (no 'members')")
    return data
