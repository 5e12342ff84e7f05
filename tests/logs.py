"""Read back what a run logged: TensorBoard event files and W&B's offline run files."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any


def tb_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in the event files of `folder`, as (step, value) pairs in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: sorted((e.step, e.value) for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


def tb_hparams(folder: Path) -> dict[str, Any]:
    """The hparams plugin's record of `folder`: {name: value}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(folder))
    acc.Reload()
    for content in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            hp = data.session_start_info.hparams
            return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in hp.items()}
    return {}


def _wandb_records(path: Path):
    """The protobuf records of a `.wandb` transaction log (LevelDB log format after a 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, block, chunk = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B", path
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, n, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = chunk + data[pos + 7 : pos + 7 + n], pos + 7 + n
        if kind in (1, 4):  # FULL, LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def wandb_offline_runs(wandb_dir: Path) -> list[dict[str, Any]]:
    """Each offline run under `wandb_dir` (in the order they logged: folders started in one second sort by
    id): id, name, config, history rows and summary, read from the run's transaction log (and
    `files/wandb-summary.json` where W&B writes one)."""
    runs = []
    for folder in sorted(Path(wandb_dir).glob("wandb/offline-run-*")):
        run: dict[str, Any] = {"folder": folder, "history": [], "summary": {}, "config": {}}
        for record in _wandb_records(next(folder.glob("run-*.wandb"))):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run["id"], run["name"] = record.run.run_id, record.run.display_name
                run["start"] = record.run.start_time.ToNanoseconds() / 1e9
                run["config"] = {u.key: json.loads(u.value_json) for u in record.run.config.update}
            elif kind == "history":
                items = record.history.item
                run["history"].append(
                    {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}
                )
            elif kind == "summary":
                for u in record.summary.update:
                    run["summary"][u.key or "/".join(u.nested_key)] = json.loads(u.value_json)
        summary_file = folder / "files" / "wandb-summary.json"
        if summary_file.is_file():
            run["summary"].update(json.loads(summary_file.read_text()))
        runs.append(run)
    return sorted(runs, key=lambda r: r["history"][0]["_timestamp"] if r["history"] else r["start"])
