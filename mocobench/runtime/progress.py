"""Rich progress on stderr: the training bars (epochs; steps with loss, lr, images/s, ETA), a counter bar."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Messages here name paths (the run folder, a converted dataset): printed as given, never read as markup
# or :emoji: codes (a path may hold "[red]"); the bars' columns style themselves.
console = Console(stderr=True, markup=False, emoji=False)


class TrainProgress:
    def __init__(self, epochs: int, start_epoch: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.epoch_task = self.progress.add_task("epochs", total=epochs, completed=start_epoch, info="")
        self.step_task = None

    def __enter__(self) -> TrainProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start_epoch(self, epoch: int, steps: int) -> None:
        if self.step_task is not None:
            self.progress.remove_task(self.step_task)
        self.step_task = self.progress.add_task(f"epoch {epoch + 1}", total=steps, info="")

    def step(self, loss: float, lr: float, images_per_s: float) -> None:
        info = f"loss {loss:.3f}  lr {lr:.4g}  {images_per_s:.0f} img/s"
        self.progress.update(self.step_task, advance=1, info=info)

    def end_epoch(self, record: dict[str, Any]) -> None:
        knn = f"  kNN {record['knn_top1']:.1f}%" if "knn_top1" in record else ""
        if "val_top1" in record:  # linear evaluation
            knn += f"  val top-1 {record['val_top1']:.1f}%"
        line = (
            f"epoch {record['epoch']}: loss {record['loss']:.3f}  acc {record['acc']:.1f}%  "
            f"lr {record['lr']:.4g}  {record['images_per_s']:.0f} img/s{knn}"
        )
        self.progress.update(self.epoch_task, advance=1, info=line.split(": ", 1)[1])
        if self.enabled:
            self.progress.console.print(line)


@contextlib.contextmanager
def counter_bar(enabled: bool, description: str, total: int) -> Iterator[Callable[[int, int], int]]:
    """`advance(done, shown) -> shown`: a Rich bar that a poller moves to `done` (a no-op if disabled).

    For work done in threads that only bump a counter (the FFCV writer): the polling thread owns the bar.
    """
    if not enabled:
        yield lambda done, shown: done
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int, shown: int) -> int:
            if done > shown:
                bar.update(task, completed=done)
            return done

        yield advance
