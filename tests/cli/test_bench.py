"""`edgekit bench`: its transport flags come from the transports' declared options."""
from __future__ import annotations

import json
from typing import Any

import click
import pytest
from click.testing import CliRunner

from edgekit.cli import bench, cli
from edgekit.errors import CheckFailed
from edgekit.transport.options import TransportOption, declared_options
from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli

REPORT = {"latency_ms": {"p50": 2.0}, "fidelity": {"vs_host": {"cosine": 0.999}}}


@pytest.fixture
def fake_benchmark(monkeypatch) -> dict[str, Any]:
    """No device: Artifact.load and benchmark replaced; returns the keyword arguments benchmark was called with."""
    import edgekit.artifact
    import edgekit.measure.runner
    calls: dict[str, Any] = {}
    monkeypatch.setattr(edgekit.artifact.Artifact, "load", staticmethod(lambda path: path))

    def benchmark(artifact: Any, target: str, **kwargs: Any) -> dict[str, Any]:
        calls.update(kwargs, artifact=artifact, target=target)
        return REPORT
    monkeypatch.setattr(edgekit.measure.runner, "benchmark", benchmark)
    return calls


def test_bench_on_non_artifact(tmp_path):
    assert_one_line_error(run_cli("bench", tmp_path, "-t", "emu-phone"), 1, "not an artifact directory")


def test_help_shows_every_declared_transport_flag():
    text = CliRunner().invoke(cli, ["bench", "--help"], terminal_width=200).output
    flags = {o.flag for o in declared_options()}
    assert {"--host", "--identity", "--known-hosts", "--trust-host-key", "--device-python", "--serial-port",
            "--flash-tool", "--adb-serial"} <= flags
    for option in declared_options():
        assert option.flag in text and option.help.split(":")[0] in text


def test_given_flags_reach_the_transport_by_key(fake_benchmark, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("")
    result = CliRunner().invoke(cli, ["bench", "art", "-t", "emu-rpi4-x86", "--host", "pi@board:2222", "--identity",
                                      str(key), "--trust-host-key", "--device-python", "python3.11",
                                      "--flash-tool", "none", "--adb-serial", "R5C", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == REPORT
    assert fake_benchmark["transport_options"] == {"host": "pi@board:2222", "identity": str(key),
                                                   "trust_host_key": True, "python": "python3.11",
                                                   "flash_tool": "none", "serial": "R5C"}


def test_no_transport_flags_no_options(fake_benchmark):
    assert CliRunner().invoke(cli, ["bench", "art", "-t", "emu-phone", "--json"]).exit_code == 0
    assert fake_benchmark["transport_options"] == {}


@pytest.mark.parametrize("args", [["--flash-tool", "jlink"], ["--identity", "."]])
def test_choices_and_paths_are_checked(fake_benchmark, args):
    result = CliRunner().invoke(cli, ["bench", "art", "-t", "emu-phone", *args])
    assert result.exit_code == 2 and not fake_benchmark


def test_a_new_transport_option_becomes_a_flag(monkeypatch):
    monkeypatch.setattr(bench, "declared_options", lambda: [TransportOption("baud", "--baud-rate", "bits per s")])
    seen: dict[str, Any] = {}
    command = click.command()(bench.transport_flags(lambda **params: seen.update(
        bench.given_transport_options(params))))
    assert CliRunner().invoke(command, ["--baud-rate", "9600"]).exit_code == 0
    assert seen == {"baud": "9600"}


def test_budget_missed_raises_check_failed(fake_benchmark):
    result = CliRunner().invoke(cli, ["bench", "art", "-t", "emu-phone", "--json", "--max-latency-ms", "1"])
    assert isinstance(result.exception, CheckFailed) and "p50 latency 2.000 ms > 1.0 ms" in str(result.exception)


def test_profile_reaches_the_benchmark_and_html_refuses_an_existing_file(fake_benchmark, tmp_path):
    assert CliRunner().invoke(cli, ["bench", "art", "-t", "emu-phone", "--profile", "--json"]).exit_code == 0
    assert fake_benchmark["profile_ops"] is True
    fake_benchmark.clear()
    page = tmp_path / "report.html"
    page.write_text("the user's")
    result = CliRunner().invoke(cli, ["bench", "art", "-t", "emu-phone", "--html", str(page)])
    assert "exists; edgekit does not overwrite it" in str(result.exception)
    assert not fake_benchmark and page.read_text() == "the user's"  # refused before any device time


def test_profile_and_html_go_with_samples_not_generation(fake_benchmark):
    result = CliRunner().invoke(cli, ["bench", "art", "-t", "emu-phone", "--generate", "4", "--profile"])
    assert "--profile goes with a benchmark of samples" in str(result.exception) and not fake_benchmark
