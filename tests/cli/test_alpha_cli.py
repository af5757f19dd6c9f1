"""``quantrl alpha eval`` on a small slice of the bundled DOW30 market."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from quantrl.alpha import evaluate
from quantrl.cli.alpha import alpha_app
from quantrl.errors import ConfigError, FormulaError, QuantRLError

runner = CliRunner()
SLICE = ["--market", "dow30", "--start", "2018-10-01", "--end", "2021-06-30"]
SYMBOLS = "AAPL,MSFT,JPM,KO,PG,MRK,CVX,WMT,HD,IBM"
MOMENTUM = "Mean($close, 10) / $close - 1"
ENV = {"COLUMNS": "220"}


def _invoke(*args: str):
    return runner.invoke(alpha_app, ["eval", *SLICE, "--symbols", SYMBOLS, *args], env=ENV)


def _reference_ic(formula: str, horizon: int) -> tuple[float, float, int]:
    """Test-split mean IC / RankIC (and dates used) computed by hand from the same slice."""
    import quantrl

    panel = quantrl.load_market(
        "dow30", start="2018-10-01", end="2021-06-30", symbols=SYMBOLS.split(",")
    )
    rows = np.flatnonzero(panel.dates >= np.datetime64("2021-01-01"))
    factor = np.asarray(evaluate(formula, panel))[rows]
    close = panel["close"][rows]
    label = close[horizon:] / close[:-horizon] - 1.0
    ics, rics = [], []
    for t in range(label.shape[0]):
        ics.append(stats.pearsonr(factor[t], label[t])[0])
        rics.append(stats.spearmanr(factor[t], label[t])[0])
    return float(np.mean(ics)), float(np.mean(rics)), label.shape[0]


def _row(output: str, formula_canonical: str) -> list[str]:
    for line in output.splitlines():
        if formula_canonical in line:
            return [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
    raise AssertionError(f"no row for {formula_canonical} in\n{output}")


def test_eval_prints_metrics_matching_a_reference() -> None:
    result = _invoke(MOMENTUM, "--horizon", "5", "--split", "test")
    assert result.exit_code == 0, result.output
    for header in ("IC", "RankIC", "ICIR", "RankICIR", "PPS", "RRE", "PFS", "Div", "Logic"):
        assert header in result.output
    assert "dow30 test 2021-01-04" in result.output
    cells = _row(result.output, "Sub(Div(Mean($close,10),$close),1)")
    ic, ric, n_dates = _reference_ic(MOMENTUM, 5)
    assert float(cells[1]) == pytest.approx(ic, abs=6e-5)
    assert float(cells[2]) == pytest.approx(ric, abs=6e-5)
    assert float(cells[5]) == pytest.approx(0.5 * ic + 0.5 * ric, abs=6e-5)
    assert cells[9] == "1.00"  # sound logic
    assert cells[10] == str(n_dates)  # the last 5 test dates have no label


def test_eval_file_plot_and_logic_reasons(tmp_path) -> None:
    alphas = tmp_path / "alphas.txt"
    alphas.write_text(f"# momentum and a unit mistake\n{MOMENTUM}\n\n$close + $volume\n")
    png = tmp_path / "ic.png"
    args = ["--file", str(alphas), "--split", "valid", "--plot", str(png)]
    result = _invoke(*args, "--", "-Std($close / Ref($close, 1) - 1, 20)")
    assert result.exit_code == 0, result.output
    assert "Mul(-1,Std(" in result.output
    assert "Add($close,$volume)" in result.output and "dow30 valid 2019-01-02" in result.output
    assert "unit mismatch" in result.output
    assert "set diversity" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    logic = _row(result.output, "Add($close,$volume)")[9]
    assert float(logic) < 1.0


def test_eval_errors_are_library_errors() -> None:
    result = _invoke()
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    result = _invoke(MOMENTUM, "--split", "holdout")
    assert isinstance(result.exception, ConfigError)
    result = _invoke("Mean($close, ")
    assert isinstance(result.exception, FormulaError)
    result = _invoke(MOMENTUM, "--judge-url", "http://127.0.0.1:9")
    assert isinstance(result.exception, ConfigError)


class _Judge(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        content = json.dumps({"score": 0.3, "reasons": ["fake reviewer"]})
        body = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_eval_with_an_llm_judge_on_a_local_fake_server() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = _invoke(MOMENTUM, "--judge-url", url, "--judge-model", "fake")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert result.exit_code == 0, result.output
    assert _row(result.output, "Sub(Div(Mean($close,10),$close),1)")[9] == "0.30"
    assert "fake reviewer" in result.output


class _SlowJudge(BaseHTTPRequestHandler):
    """Answers one byte a second: only a deadline on the whole request stops the wait."""

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(30):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(1.0)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_eval_judge_timeout_bounds_a_dripping_server() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowJudge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        start = time.monotonic()
        args = ("--judge-url", url, "--judge-model", "fake", "--judge-timeout", "1")
        result = _invoke(MOMENTUM, *args)
        elapsed = time.monotonic() - start
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert isinstance(result.exception, QuantRLError)
    assert "did not answer within 1 s" in str(result.exception)
    assert elapsed < 20  # data loading and evaluation included; the server would take 30 s
    bad = _invoke(MOMENTUM, "--judge-url", url, "--judge-model", "fake", "--judge-timeout", "0")
    assert isinstance(bad.exception, ConfigError) and "timeout" in str(bad.exception)
