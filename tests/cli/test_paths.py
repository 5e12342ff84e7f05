"""Paths as the user gave them: printed literally (Rich markup, `:emoji:` codes and brackets are part of a
name), and an --out that cannot be written (under a regular file, read-only, not UTF-8) refused in one line
with exit code 2 before anything is written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from checkpoints import torchvision_file

NAMES = ["x[/]y", "[red]x[/]", "a[bold]b[", "x:smile:y", "back\\[red]z"]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("name", NAMES)
def test_an_error_prints_the_path_as_given(name: str, tmp_path: Path, cli):
    missing = tmp_path / name / "c.pth"
    code, _, err = cli("knn", "--pretrained", str(missing))
    assert code == 2
    assert (
        _one_line(err)
        == f"error: --pretrained {missing} does not exist; pass a run folder or a checkpoint file"
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_data_path_with_brackets_prints_as_given(name: str, tmp_path: Path, cli):
    data = tmp_path / name
    code, _, err = cli("pretrain", "--recipe", "mlp+aug+cos", "--scale", "smoke", "--data", str(data),
                       "--out", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and str(data) in _one_line(err)


@pytest.mark.parametrize("name", NAMES)
def test_a_written_path_prints_as_given(name: str, tmp_path: Path, cli):
    out = tmp_path / name
    small = ["--train-per-class", "1", "--val-per-class", "1", "--image-size", "16"]
    code, stdout, err = cli("data", "synth", "--out", str(out), *small)
    assert code == 0, err
    assert stdout.strip() == f"wrote {out}" and (out / "train").is_dir()


def test_knn_prints_its_result_path_as_given(tiny_data: Path, tmp_path: Path, cli):
    path, _ = torchvision_file(tmp_path / "r18.pth")
    out = tmp_path / "[bold]o[/]:smile:"
    code, stdout, err = cli("knn", "--pretrained", str(path), "--data", str(tiny_data), "--scale", "smoke",
                            "--k", "3", "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert stdout.strip().startswith("kNN (torchvision, k=3") and stdout.strip().endswith(
        f"-> {out / 'knn.json'}"
    )
    assert (out / "knn.json").is_file()


def test_line_keeps_user_text_and_shows_non_utf8_bytes():
    from mocobench.cli.common import line, printable

    assert line("[red]x[/] :smile:", ("[b]", "bold")).plain == "[red]x[/] :smile:[b]"
    assert printable("bad\udcff") == "bad\\xff" and printable("ok\ud800") == "ok\\ud800"


def _commands(bad: Path, tiny: Path, ckpt: Path) -> dict[str, list[str]]:
    small = ["--train-per-class", "1", "--val-per-class", "1", "--image-size", "16"]
    return {
        "data synth": ["data", "synth", "--out", str(bad / "d"), *small],
        "data to-ffcv": ["data", "to-ffcv", "--data", str(tiny), "--out", str(bad / "t.beton")],
        "pretrain": [
            "pretrain",
            "--recipe",
            "mlp+aug+cos",
            "--scale",
            "smoke",
            "--data",
            str(tiny),
            "--out",
            str(bad / "run"),
            "--device",
            "cpu",
        ],
        **{
            name: [
                name,
                "--pretrained",
                str(ckpt),
                "--data",
                str(tiny),
                "--scale",
                "smoke",
                "--out",
                str(bad / "o"),
            ]
            for name in ("knn", "linear")
        },
        "detect-voc": ["detect-voc", "--pretrained", str(ckpt), "--scale", "smoke", "--out", str(bad / "o")],
        "table": ["table", "1", "--scale", "smoke", "--out", str(bad / "t")],
        "reproduce --out": ["reproduce", "table", "1", "--scale", "smoke", "--out", str(bad / "t")],
        "reproduce --runs": ["reproduce", "table", "1", "--scale", "smoke", "--runs", str(bad / "r")],
        "export torchvision": ["export", "torchvision", str(ckpt), str(bad / "x.pth")],
        "export detectron2": ["export", "detectron2", str(ckpt), str(bad / "x.pkl")],
        "bench loader --json": ["bench", "loader", "--json", str(bad / "b.json")],
        "profile --out": ["profile", "--out", str(bad / "p.json"), "--device", "cpu"],
    }


COMMANDS = list(_commands(Path("x"), Path("x"), Path("x")))


@pytest.fixture
def inputs(tmp_path: Path, tiny_data: Path) -> tuple[Path, Path]:
    """A checkpoint the commands could read, outside `tmp_path/work` where they must write nothing."""
    ckpt, _ = torchvision_file(tmp_path / "resnet18.pth")
    (tmp_path / "work").mkdir()
    return tiny_data, ckpt


@pytest.mark.parametrize("command", COMMANDS)
def test_an_out_under_a_regular_file_is_refused_writing_nothing(command: str, inputs, tmp_path: Path, cli):
    work = tmp_path / "work"
    regular = work / "notes.txt"
    regular.write_text("a file, not a folder")
    before = _tree(tmp_path)
    code, _, err = cli(*_commands(regular, *inputs)[command])
    assert code == 2, err
    assert f"{regular} is a file, not a folder" in _one_line(err)
    assert _tree(tmp_path) == before and regular.read_text() == "a file, not a folder"


@pytest.mark.parametrize(
    "command", ["data synth", "pretrain", "knn", "linear", "table", "export torchvision"]
)
def test_a_non_utf8_out_is_refused_in_one_line_writing_nothing(command: str, inputs, tmp_path: Path, cli):
    work = tmp_path / "work"
    bad = Path(os.fsdecode(bytes(work) + b"/bad\xff"))  # what Python makes of a non-UTF-8 argument
    before = _tree(tmp_path)
    code, _, err = cli(*_commands(bad, *inputs)[command])
    assert code == 2, err
    assert "bad\\xff" in _one_line(err) and "not a UTF-8 name" in err
    assert _tree(tmp_path) == before and os.listdir(bytes(work)) == []


def test_an_existing_file_as_out_folder_is_refused(tmp_path: Path, cli):
    regular = tmp_path / "out"
    regular.write_text("x")
    code, _, err = cli("data", "synth", "--out", str(regular))
    assert code == 2 and f"--out {regular} is a file, not a folder" in _one_line(err)


@pytest.fixture
def read_only(tmp_path: Path):
    """A folder on a read-only bind mount (root can write anywhere a mode allows, not there)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("mount --bind -o ro is not permitted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", ["data synth", "knn", "export detectron2"])
def test_an_out_on_a_read_only_mount_is_refused(command: str, read_only: Path, inputs, cli):
    code, _, err = cli(*_commands(read_only, *inputs)[command])
    assert code == 2, err
    assert f"cannot write it ({read_only}: Read-only file system)" in _one_line(err)
    assert os.listdir(read_only) == []


def test_recipes_show_prints_a_data_path_as_given(tmp_path: Path, cli):
    data = tmp_path / "[red]d[/]"
    small = ["--train-per-class", "2", "--val-per-class", "1", "--image-size", "16"]
    assert cli("data", "synth", "--out", str(data), *small)[0] == 0
    code, stdout, err = cli("recipes", "show", "mlp+aug+cos", "--scale", "smoke", "--data", str(data))
    assert code == 0, err
    assert f"on{data}" in "".join(stdout.split())  # the title may wrap: compare without whitespace
