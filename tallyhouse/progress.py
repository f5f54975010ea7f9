"""Progress on long work (generating, the benchmark): a rich progress bar in a terminal,
a few plain lines anywhere else (a log, CI, a test capturing the output)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def progress_bar(description: str, total: int, say: Callable[[str], None] = print,
                 interactive: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yields ``update(done)``. In a terminal, a bar with the count, elapsed and remaining
    time; otherwise a line at every tenth of the way (and at the end)."""
    if interactive is None:
        interactive = sys.stdout.isatty()
    if interactive:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    step = max(total // 10, 1)
    said = {"next": step}

    def update(done: int) -> None:
        if done >= said["next"] or done >= total:
            say(f"  {description}: {done:,}/{total:,}")
            said["next"] = (done // step + 1) * step if done < total else float("inf")

    yield update
