"""Exit codes and error lines common to every command (edgekit/cli/__init__.py)."""
from tests.helpers import run_cli


def test_usage_error_exit_2():
    result = run_cli("compile")
    assert result.returncode == 2 and "Missing argument" in result.stderr


def test_debug_env_shows_traceback(tmp_path):
    result = run_cli("compile", tmp_path / "nope.pt2", "-t", "emu-phone", "-o", tmp_path / "o",
                     env={"EDGEKIT_DEBUG": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("bench", "compile", "compress", "demo", "targets"):
        assert command in result.stdout
