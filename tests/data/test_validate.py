"""Every validation rule, each with a bad file; explicit drop / forward-fill options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import quantrl
from quantrl import DataError

GOOD = """Date,Ticker,Open,High,Low,Close,Volume
2021-01-04,AAA,10,11,9,10.5,100
2021-01-04,BBB,20,21,19,20.5,200
2021-01-05,AAA,10.5,12,10,11,150
2021-01-05,BBB,20.5,22,20,21,250
2021-01-06,AAA,11,12,10.5,11.5,120
2021-01-06,BBB,21,21.5,20,20.8,180
"""


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def corrupt(line_no: int, new_line: str) -> str:
    lines = GOOD.strip().splitlines()
    lines[line_no] = new_line
    return "\n".join(lines) + "\n"


def test_good_file_loads(tmp_path):
    p = quantrl.load_market(write(tmp_path, GOOD))
    assert p.symbols == ("AAA", "BBB") and p.n_dates == 3
    np.testing.assert_array_equal(p["close"][:, 0], [10.5, 11, 11.5])
    assert p["volume"][2, 1] == 180


@pytest.mark.parametrize(
    ("line", "rule", "symbol", "date"),
    [
        ("2021-01-05,AAA,10.5,12,10,-11,150", "non-positive price", "AAA", "2021-01-05"),
        ("2021-01-05,AAA,10.5,12,10,0,150", "non-positive price", "AAA", "2021-01-05"),
        ("2021-01-05,AAA,10.5,12,10,,150", "non-finite price", "AAA", "2021-01-05"),
        ("2021-01-05,AAA,10.5,12,10,inf,150", "non-finite price", "AAA", "2021-01-05"),
        ("2021-01-05,BBB,20.5,19,22,21,250", "high < low", "BBB", "2021-01-05"),
        ("2021-01-05,BBB,20.5,22,20,23,250", "close outside [low, high]", "BBB", "2021-01-05"),
        ("2021-01-05,BBB,25,22,20,21,250", "open outside [low, high]", "BBB", "2021-01-05"),
        ("2021-01-05,BBB,20.5,22,20,21,-5", "negative volume", "BBB", "2021-01-05"),
        ("2021-01-04,AAA,10,11,9,10.5,100", "duplicated row", "AAA", "2021-01-04"),
    ],
)
def test_each_rule_names_symbol_date_and_rule(tmp_path, line, rule, symbol, date):
    index = {"duplicated row": 4}.get(rule, 4 if "BBB" in line else 3)
    path = write(tmp_path, corrupt(index, line))
    with pytest.raises(DataError) as info:
        quantrl.load_market(path)
    err = info.value
    assert err.rule == rule
    assert err.symbol == symbol
    assert str(err.date)[:10] == date
    assert rule in str(err) and symbol in str(err) and date in str(err)


def test_drop_removes_only_failing_bars_and_reports_them(tmp_path):
    path = write(tmp_path, corrupt(3, "2021-01-05,AAA,10.5,12,10,-11,150"))
    p = quantrl.load_market(path, on_invalid="drop")
    assert np.isnan(p["close"][1, 0]) and p["close"][1, 1] == 21
    assert any("non-positive price" in line for line in p.meta["validation"])


def test_missing_close_field(tmp_path):
    text = "date,symbol,open\n2021-01-04,AAA,10\n"
    with pytest.raises(DataError) as info:
        quantrl.load_market(write(tmp_path, text))
    assert info.value.rule == "field missing" and "close" in str(info.value)


def test_missing_date_column(tmp_path):
    text = "when,symbol,close\n2021-01-04,AAA,10\n"
    with pytest.raises(DataError, match="no date column"):
        quantrl.load_market(write(tmp_path, text))


def test_requested_field_missing(tmp_path):
    with pytest.raises(DataError, match="vwap"):
        quantrl.load_market(write(tmp_path, GOOD), fields=["close", "vwap"])


def test_unknown_symbol_requested(tmp_path):
    with pytest.raises(DataError) as info:
        quantrl.load_market(write(tmp_path, GOOD), symbols=["AAA", "ZZZ"])
    assert info.value.rule == "unknown symbol" and info.value.symbol == "ZZZ"


def test_empty_date_range(tmp_path):
    with pytest.raises(DataError) as info:
        quantrl.load_market(write(tmp_path, GOOD), start="2022-01-01", end="2022-02-01")
    assert info.value.rule == "empty date range"


def test_unparseable_dates(tmp_path):
    text = "date,symbol,close\nnot-a-date,AAA,10\n"
    with pytest.raises(DataError):
        quantrl.load_market(write(tmp_path, text))


def test_missing_dates_stay_missing_unless_ffill_is_asked(tmp_path):
    lines = GOOD.strip().splitlines()
    del lines[3]  # AAA has no bar on 2021-01-05
    path = write(tmp_path, "\n".join(lines) + "\n")
    p = quantrl.load_market(path)
    assert np.isnan(p["close"][1, 0])
    f = quantrl.load_market(path, fill="ffill")
    assert f["close"][1, 0] == 10.5 and f["volume"][1, 0] == 0.0
    assert f.meta["filled"] == 1
    assert p["close"][1, 1] == f["close"][1, 1]
