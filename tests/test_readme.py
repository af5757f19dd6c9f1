"""The README's Python snippets run as written (yfinance replays a recorded download).

Each ```python block runs in a fresh namespace in a temporary folder, in README order. The
yfinance module is replaced by a stand-in that returns the recorded frame of
``tests/fixtures/yf_download_AAPL_MSFT_2020Q1.parquet`` in the layout each call asks for, so no
snippet touches the network. The CLI block's commands must name existing commands.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from typer.main import get_command

from quantrl.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FIXTURE = ROOT / "tests" / "fixtures" / "yf_download_AAPL_MSFT_2020Q1.parquet"
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def _fake_yfinance() -> types.ModuleType:
    """A yfinance stand-in: ``download`` and ``Ticker.history`` replay the recorded frame."""
    recorded = pd.read_parquet(FIXTURE)  # (Price, Ticker) columns, Date index

    def download(tickers, start=None, end=None, group_by="column", **_: object) -> pd.DataFrame:
        names = [tickers] if isinstance(tickers, str) else list(tickers)
        frame = recorded.loc[:, recorded.columns.get_level_values(1).isin(names)]
        frame = frame.loc[(frame.index >= pd.Timestamp(start or frame.index[0]))]
        frame = frame.loc[frame.index < pd.Timestamp(end)] if end else frame
        if group_by == "ticker":
            frame = frame.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0)
        return frame

    class Ticker:
        def __init__(self, symbol: str) -> None:
            self.symbol = symbol

        def history(self, start=None, end=None, **_: object) -> pd.DataFrame:
            one = download([self.symbol], start, end)
            return one.droplevel(1, axis=1)

    module = types.ModuleType("yfinance")
    module.download = download  # type: ignore[attr-defined]
    module.Ticker = Ticker  # type: ignore[attr-defined]
    return module


def test_the_readme_has_snippets() -> None:
    assert len(BLOCKS) >= 9


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_snippet_runs(index: int, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "yfinance", _fake_yfinance())
    monkeypatch.setenv("QUANTRL_REGISTRY", str(tmp_path / "registry.sqlite"))
    code = compile(BLOCKS[index], f"README.md python block {index + 1}", "exec")
    exec(code, {"__name__": f"readme_{index}"})  # noqa: S102 - our own README


def test_readme_cli_lines_name_existing_commands() -> None:
    block = re.search(r"## CLI\n\n```bash\n(.*?)```", README, flags=re.S)
    assert block, "the README has a CLI section"
    root = get_command(app)
    checked = 0
    for line in block.group(1).splitlines():
        for part in re.split(r" ; ", line):
            words = shlex.split(part.replace("|", " | "))
            if not words or words[0] != "quantrl":
                continue
            command = root
            for word in words[1:]:
                if word.startswith("-") or not hasattr(command, "commands"):
                    break
                assert word in command.commands, f"{part!r}: no command {word!r}"
                command = command.commands[word]
                checked += 1
    assert checked >= 15
