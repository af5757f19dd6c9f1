"""The ``quantrl`` command: a thin typer app over the library.

Help text is plain (``rich_markup_mode=None``): square brackets such as ``[distributed]`` are
shown as written, never taken for rich markup.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

import quantrl
from quantrl.cli.alpha import alpha_app
from quantrl.cli.backtest import backtest_command, compare_command
from quantrl.cli.data import data_app
from quantrl.cli.demo import demo_command
from quantrl.cli.experiment import experiment_app
from quantrl.cli.mine import alpha_top_command, jobs_app, mine_command
from quantrl.cli.sweep import sweep_command
from quantrl.cli.train import eval_command, train_command
from quantrl.cli.workflow import workflow_app
from quantrl.errors import QuantRLError

app = typer.Typer(
    name="quantrl",
    help="quantrl: market data, backtests, formulaic alphas and RL trading environments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"quantrl {quantrl.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """quantrl: market data, backtests, formulaic alphas and RL trading environments."""


app.add_typer(data_app, name="data")
app.add_typer(alpha_app, name="alpha")
alpha_app.command("top")(alpha_top_command)
app.add_typer(jobs_app, name="jobs")
app.add_typer(experiment_app, name="experiment")
app.add_typer(workflow_app, name="workflow")
app.command("mine")(mine_command)
app.command("sweep")(sweep_command)
app.command("train")(train_command)
app.command("eval")(eval_command)
app.command("backtest")(backtest_command)
app.command("compare")(compare_command)

app.command("demo")(demo_command)


def main() -> None:
    """Console-script entry point: library errors become one red line and exit code 1."""
    try:
        app()
    except QuantRLError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
