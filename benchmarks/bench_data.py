"""Load time of the bundled DOW30 panel (cold and warm cache) against a pandas reference.

The pandas reference reads the same file and pivots it to (dates x symbols) per field:
``pd.read_csv`` + ``pivot`` for the CSV copy, ``pd.read_parquet`` + ``pivot`` for the parquet file.
quantrl's loads also validate every bar, which the reference does not. ratio = pandas / quantrl.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import quantrl  # noqa: E402
from benchmarks.harness import median_time, print_table  # noqa: E402
from quantrl.data.cache import DiskCache  # noqa: E402
from quantrl.data.providers.bundled import get_dataset  # noqa: E402

FIELDS = ["open", "high", "low", "close", "volume"]


def pandas_pivot(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The reference: one wide frame per field."""
    return {f: frame.pivot(index="date", columns="symbol", values=f) for f in FIELDS}


def main() -> None:
    """Run the data-loading benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    path = get_dataset("dow30").path
    work = Path(tempfile.mkdtemp(prefix="quantrl-bench-data-"))
    csv_path = work / "dow30.csv"
    pd.read_parquet(path).to_csv(csv_path, index=False)
    counter = iter(range(10_000))

    def cold() -> quantrl.Panel:
        return quantrl.load_market("dow30", cache=DiskCache(work / f"cold{next(counter)}"))

    warm_cache = DiskCache(work / "warm")
    quantrl.load_market("dow30", cache=warm_cache)
    rows = []
    t_cold, panel = median_time(cold, args.repeats)
    t_warm, warm_panel = median_time(
        lambda: quantrl.load_market("dow30", cache=warm_cache), args.repeats
    )
    assert warm_panel.equals(panel)
    t_pq, ref = median_time(lambda: pandas_pivot(pd.read_parquet(path)), args.repeats)
    t_csv_q, csv_panel = median_time(
        lambda: quantrl.load_market(csv_path, use_cache=False), args.repeats
    )
    t_csv_pd, csv_ref = median_time(
        lambda: pandas_pivot(pd.read_csv(csv_path, parse_dates=["date"])), args.repeats
    )
    assert (ref["close"].to_numpy() == panel["close"]).all()
    assert abs(csv_ref["close"].to_numpy() - csv_panel["close"]).max() < 1e-9
    shape = f"{panel.n_dates}x{panel.n_symbols}"
    rows.append(
        {
            "workload": f"DOW30 parquet {shape}, cold cache",
            "quantrl_s": t_cold,
            "pandas_s": t_pq,
            "ratio": t_pq / t_cold,
        }
    )
    rows.append(
        {
            "workload": f"DOW30 parquet {shape}, warm cache",
            "quantrl_s": t_warm,
            "pandas_s": t_pq,
            "ratio": t_pq / t_warm,
        }
    )
    rows.append(
        {
            "workload": f"DOW30 CSV {shape} (read_csv + pivot)",
            "quantrl_s": t_csv_q,
            "pandas_s": t_csv_pd,
            "ratio": t_csv_pd / t_csv_q,
        }
    )
    print_table(f"Data loading (median of {args.repeats}; ratio = pandas / quantrl)", rows)


if __name__ == "__main__":
    main()
