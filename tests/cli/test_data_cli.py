"""The data commands are thin wrappers: they print what the library returns."""

from __future__ import annotations

from typer.testing import CliRunner

from quantrl.cli.app import app
from quantrl.data.cache import CACHE_ENV

runner = CliRunner()


def test_data_list_names_every_bundled_dataset():
    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("dow30", "sp500", "crypto_minute", "esg_yahoo_2021"):
        assert name in result.output


def test_data_info_reports_repairs():
    result = runner.invoke(app, ["data", "info", "sp500"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "505" in result.output and "1259" in result.output
    assert "filled 11 missing open" in result.output


def test_data_fetch_offline_failure_is_an_error(monkeypatch):
    from quantrl.data.providers import yahoo

    def broken(*args):
        raise ConnectionError("offline")

    monkeypatch.setattr(yahoo, "yfinance_download", broken)
    result = runner.invoke(app, ["data", "fetch", "yahoo:AAPL", "--start", "2020-01-01"])
    assert result.exit_code != 0
    assert "offline" in str(result.exception)


def test_data_info_no_cache_and_date_format(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {"COLUMNS": "200", CACHE_ENV: str(blocker)}
    result = runner.invoke(app, ["data", "info", "djia", "--no-cache"], env=env)
    assert result.exit_code == 0, result.output
    assert "3522" in result.output
    csv = tmp_path / "bars.csv"
    csv.write_text("date,symbol,close\n01/02/2020,A,10\n01/03/2020,A,11\n")
    result = runner.invoke(app, ["data", "info", str(csv), "--date-format", "%m/%d/%Y"], env=env)
    assert result.exit_code == 0, result.output
    assert "2020-01-02" in result.output
    result = runner.invoke(app, ["data", "info", str(csv)], env=env)
    assert result.exit_code != 0 and "date_format" in str(result.exception)
