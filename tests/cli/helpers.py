"""Checks shared by the tests that run the real command."""
from __future__ import annotations

import subprocess


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    """The command exited with `code` and printed one line on stderr, containing `text`, and no traceback."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr
