"""The CLI entry point: help on every command, exit codes for usage errors."""

from __future__ import annotations

import pytest

from modicmap.cli.main import COMMANDS, build_parser, main


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "modicmap" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(build_parser()._subparsers._group_actions[0].choices))
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["no-such-command"]) == 2


def test_every_command_module_is_registered() -> None:
    assert len(COMMANDS) == len(build_parser()._subparsers._group_actions[0].choices)


def test_python_dash_m_runs_the_same_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "modicmap", "train", "vertebrae", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "--keep-last" in done.stdout and "--val-fraction" in done.stdout
