"""Every command's `--help`: it prints, a flag shows no value, and an option names what it takes."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from mocobench.cli import app


def commands(group, path=()):
    """(path, command) of every command and group under `group`, itself first."""
    yield path, group
    for name, sub in sorted(getattr(group, "commands", {}).items()):
        yield from commands(sub, (*path, name))


def test_every_commands_help_names_option_values_and_no_flag_value():
    root = typer.main.get_command(app)
    runner = CliRunner()
    seen = 0
    for path, command in commands(root):
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "160"})
        assert res.exit_code == 0, (path, res.output)
        assert not re.search(r"--[a-z][a-z-]*\s+<(bool|str|int|float|path|list)", res.output), path
        ctx = command.make_context(" ".join(path) or "mocobench", [], resilient_parsing=True)
        for p in command.get_params(ctx):
            if p.param_type_name != "option":
                continue
            seen += 1
            if p.is_flag:
                assert p.metavar == "", (path, p.opts)
            else:
                assert p.metavar and not p.metavar.startswith("<"), (path, p.opts, p.metavar)
    assert seen > 100  # every command's options, --help included


def test_flags_and_options_as_a_user_reads_them():
    out = CliRunner().invoke(app, ["pretrain", "--help"], env={"COLUMNS": "160"}).output
    assert re.search(r"--recipe\s+NAME\s", out) and re.search(r"--seed\s+N\s", out)
    assert re.search(r"--resume\s+Continue the run", out)  # a flag: its help straight after its name
