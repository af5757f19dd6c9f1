"""One progress bar for every long loop (training, mining, sweeps, the demo): a thin rich wrapper.

``ProgressBar(description, total)`` starts a bar; use it as a context manager
(``with ProgressBar("training", 1000) as bar: bar.advance(8)``) or call ``close()``. Move it with
``advance(n)`` or ``update(completed)``, which may also change the description or a short
``info`` text shown after the bar. The bar draws only when asked (``enabled``) and when the
console is interactive (a terminal or a notebook); otherwise nothing is written (a cron log gets
no bar) while the count is still kept in ``completed``.
"""

from __future__ import annotations

from types import TracebackType

from rich import get_console
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressBar"]


class ProgressBar:
    """A started progress bar (or a silent one) counting towards ``total`` (``None``: unknown)."""

    def __init__(
        self,
        description: str,
        total: int | None,
        *,
        completed: int = 0,
        enabled: bool = True,
        console: Console | None = None,
        transient: bool = False,
    ) -> None:
        self.total = None if total is None else int(total)
        self.completed = int(completed)
        self.description = description
        self._progress: Progress | None = None
        self._task = TaskID(0)
        console = console or get_console()
        if enabled and (console.is_terminal or console.is_jupyter):
            self._progress = Progress(
                TextColumn("{task.description}", style="bold", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}", markup=False),
                console=console,
                transient=transient,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                description, total=self.total, completed=self.completed, info=""
            )

    @property
    def active(self) -> bool:
        """Whether the bar is drawn (enabled, interactive console, not closed)."""
        return self._progress is not None

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units of work."""
        self.update(self.completed + int(n))

    def update(
        self,
        completed: int | None = None,
        *,
        description: str | None = None,
        info: str | None = None,
    ) -> None:
        """Set the count to ``completed`` and/or change the description or the info text."""
        if completed is not None:
            self.completed = int(completed)
        if description is not None:
            self.description = description
        if self._progress is not None:
            fields = {} if info is None else {"info": info}
            self._progress.update(
                self._task, completed=self.completed, description=self.description, **fields
            )

    def close(self) -> None:
        """Stop drawing (idempotent); the last state stays on screen unless ``transient``."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
