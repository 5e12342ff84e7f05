"""TensorBoard event files (always) and Weights & Biases (`--wandb`) beside a run's own JSON records.

`open_logger(run_dir, name, ...)` returns a `RunLogger`: `log(scalars, step)` writes a dict of scalars to
`<run_dir>/tensorboard/<name>` (`torch.utils.tensorboard.SummaryWriter`) and, with `wandb=True`, to a W&B
run; `finish(hparams, final)` records the resolved config and the final metrics (TensorBoard's hparams
plugin and a text summary; W&B's config and summary) and closes both. Only the main process logs: on
other ranks the logger does nothing. The tags are the record's own keys (`loss`, `knn_top1`, ...), so the
event files hold exactly what metrics.jsonl / the result file holds.

W&B runs offline (`mode="offline"`, synced later with `wandb sync`) unless WANDB_MODE says otherwise, when
there is no API key (WANDB_API_KEY or `wandb login`'s ~/.netrc) or api.wandb.ai cannot be reached. Its files
go under WANDB_DIR, else the run folder. `id_file` keeps the W&B run id, so a resumed run continues it.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from mocobench.errors import UsageError
from mocobench.runtime import atomic

TENSORBOARD = "tensorboard"  # <run_dir>/tensorboard/<name>: `tensorboard --logdir runs/` finds every run
WANDB_ID = "wandb_id"  # the W&B run id of a pre-training run, read back by --resume
DEFAULT_PROJECT = "mocobench"
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", flush=True)


def wandb_mode() -> str | None:
    """None (W&B's own choice, from WANDB_MODE) if WANDB_MODE is set; else online only with a key and
    a network."""
    if os.environ.get("WANDB_MODE"):
        return None
    key = bool(os.environ.get("WANDB_API_KEY"))
    if not key:
        try:
            import netrc

            key = netrc.netrc().authenticators("api.wandb.ai") is not None
        except (OSError, netrc.NetrcParseError):
            key = False
    if not key:
        return "offline"
    try:
        socket.create_connection(("api.wandb.ai", 443), timeout=2).close()
    except OSError:
        return "offline"
    return "online"


def _scalar(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _hparam(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else json.dumps(value)


class RunLogger:
    """Fan a dict of scalars out to TensorBoard and, if open, W&B; a no-op where both are None."""

    def __init__(self, writer: Any = None, run: Any = None):
        self.writer, self.run = writer, run

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, error: type[BaseException] | None, *_: Any) -> None:
        if error is not None:  # an interrupted run: close what was written; `finish` closes it otherwise
            self.close()

    def log(self, scalars: dict[str, Any], step: int) -> None:
        """Every number in `scalars` (not `epoch`: that is the step) at `step`."""
        pairs = ((k, _scalar(v)) for k, v in scalars.items() if k != "epoch")
        values = {k: v for k, v in pairs if v is not None}
        if self.writer is not None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)
        if self.run is not None and values:
            self.run.log(values, step=step)

    def finish(self, hparams: dict[str, Any] | None = None, final: dict[str, Any] | None = None) -> None:
        """The run's config and its final metrics (hparams, text, W&B summary), then close; call it once."""
        final = {k: v for k, v in (final or {}).items() if _scalar(v) is not None}
        if self.writer is not None:
            if hparams is not None:
                from torch.utils.tensorboard.summary import hparams as hparams_summaries

                metrics = {f"final/{k}": float(v) for k, v in final.items()}
                for summary in hparams_summaries({k: _hparam(v) for k, v in hparams.items()}, metrics):
                    self.writer.file_writer.add_summary(summary)  # in this run's folder, not a subfolder
                for tag, value in metrics.items():
                    self.writer.add_scalar(tag, value, 0)
                text = json.dumps({"config": hparams, "final": final}, indent=1, default=str)
                self.writer.add_text("config", f"```\n{text}\n```", 0)
            self.writer.close()
            self.writer = None
        if self.run is not None:
            self.run.summary.update({f"final/{k}": v for k, v in final.items()})
            self.run.finish()
            self.run = None

    def close(self) -> None:
        """Close without the final record (an interrupted run)."""
        self.finish()


def open_logger(
    run_dir: Path,
    name: str,
    hparams: dict[str, Any] | None = None,
    *,
    main: bool = True,
    wandb: bool = False,
    project: str | None = None,
    id_file: Path | None = None,
    resume: bool = False,
) -> RunLogger:
    """A logger into `<run_dir>/tensorboard/<name>` (and a W&B run named `<run folder>/<name>`), or a no-op
    off the main process. With `id_file`, a `resume` continues the W&B run whose id it holds."""
    if not main:
        return RunLogger()
    writer = None
    try:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD / name))
    except ImportError:  # a core dependency: only a safety net
        _warn_once("tensorboard is not installed (pip install tensorboard); no event files are written")
    run = _open_wandb(Path(run_dir), name, hparams, project, id_file, resume) if wandb else None
    return RunLogger(writer, run)


def _open_wandb(
    run_dir: Path,
    name: str,
    hparams: dict[str, Any] | None,
    project: str | None,
    id_file: Path | None,
    resume: bool,
) -> Any:
    try:
        import wandb
    except ImportError as e:
        raise UsageError("--wandb needs Weights & Biases: pip install 'mocobench[wandb]'") from e
    run_id = id_file.read_text().strip() if resume and id_file and id_file.is_file() else None
    mode = wandb_mode()
    root = Path(os.environ.get("WANDB_DIR") or run_dir)
    root.mkdir(parents=True, exist_ok=True)
    if mode == "offline" and not os.environ.get("WANDB_MODE"):
        _warn_once(f"W&B runs offline (no API key or no network); sync later: wandb sync {root}/wandb")
    run = wandb.init(
        project=project or DEFAULT_PROJECT,
        name=f"{run_dir.name}/{name}",
        group=str(run_dir),
        job_type=name.split("-")[0],
        dir=str(root),
        id=run_id,
        resume="allow",
        mode=mode,
        config=hparams,
    )
    if id_file is not None:
        atomic.write_text(id_file, run.id + "\n")
    return run
