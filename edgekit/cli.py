"""The `edgekit` command: results on stdout, progress and errors on stderr, one line per error.

Exit codes: 0 ok, 1 bad input, 2 usage, 3 device or transport failure, 4 a budget or accuracy check failed.
Set EDGEKIT_DEBUG=1 for tracebacks.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import CheckFailed, EdgekitError

out = Console()
err = Console(stderr=True)


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Any]:
    """A callback(what, done, total) drawing one rich progress bar per phase on stderr."""
    if not enabled or not err.is_terminal:
        yield lambda *_: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(what, total=total)
            bars.update(tasks[what], completed=done, total=total)
        yield update


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
def cli() -> None:
    """Compress a PyTorch model for a device, export it, deploy it and measure it."""


@cli.group()
def targets() -> None:
    """Device profiles (targets/*.toml)."""


@targets.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def targets_list(as_json: bool) -> None:
    """List every device profile."""
    from .profiles import list_profiles
    profiles = list_profiles()
    if as_json:
        _print_json([p.to_dict() for p in profiles])
        return
    table = Table(title="edgekit targets")
    for col in ("name", "family", "core", "clock", "RAM", "formats", "transport", "stands for"):
        table.add_column(col)
    for p in profiles:
        hw = p.hardware
        table.add_row(p.name, p.family, hw.core, f"{hw.clock_hz / 1e6:g} MHz", f"{hw.ram_bytes / 1024:,.0f} KiB",
                      ",".join(p.software.formats), p.default_transport, p.stands_for or "")
    out.print(table)


@targets.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def targets_show(name: str, as_json: bool) -> None:
    """Show one device profile, NAME or a path to a .toml file."""
    from .profiles import load_profile
    profile = load_profile(name)
    if as_json:
        _print_json(profile.to_dict())
        return
    table = Table(title=f"{profile.name}: {profile.description}", show_header=False)
    for key, value in _flatten(profile.to_dict()):
        table.add_row(key, str(value))
    out.print(table)


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            items += _flatten(v, f"{prefix}{k}.")
        elif v not in (None, {}, ()):
            items.append((f"{prefix}{k}", v))
    return items


QUANTIZE_CHOICES = ("none", "int8", "int8-dynamic")


def _quantize_recipe(quantize: str) -> list[Any]:
    from .compress import Int8DynamicConfig, Int8StaticConfig
    return {"none": [], "int8": [Int8StaticConfig()], "int8-dynamic": [Int8DynamicConfig()]}[quantize]


@cli.command("compile")
@click.argument("model")
@click.option("--target", "-t", required=True, help="device profile name (see `edgekit targets list`)")
@click.option("--quantize", "-q", type=click.Choice(QUANTIZE_CHOICES), default="none", show_default=True)
@click.option("--recipe", "-r", "recipe_path", type=click.Path(dir_okay=False),
              help="TOML recipe of compression steps (instead of --quantize); recorded in the manifest")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help=".npz with 'x' (or one array per input name); needed for int8")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME=LO:HI",
              help="valid values of an integer input (HI excluded), e.g. input_ids=0:30522; used where no data "
                   "is given (default: the range the example input spans)")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="artifact directory to write")
@click.option("--force", is_flag=True, help="replace -o even if it is a non-empty folder that is not an artifact")
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def compile_cmd(model: str, target: str, quantize: str, recipe_path: str | None, calibration: str | None,
                input_ranges: tuple[str, ...], output: str, force: bool, as_json: bool) -> None:
    """Compress and export MODEL (.pt2 or file.py:factory) for a target; write an artifact directory."""
    from .artifact import check_output_dir
    from .compiler import compile_model
    from .errors import InputError
    from .modelio import load_data, load_model
    from .profiles import load_profile
    profile = load_profile(target)
    check_output_dir(output, force)  # before the model is loaded: nothing slow happens for a refused -o
    ranges = _parse_ranges(input_ranges)
    if recipe_path and quantize != "none":
        raise InputError("--recipe and --quantize both given", "put the quantization step in the recipe")
    if recipe_path:
        from .recipe import load_recipe
        recipe = load_recipe(recipe_path)
    else:
        recipe = _quantize_recipe(quantize)
    if quantize == "int8" and not calibration:
        raise InputError("--quantize int8 needs calibration data", "pass --calibration DATA.npz with an array 'x'")
    loaded = load_model(model)
    data = load_data(calibration) if calibration else None
    with progress_bars() as progress:
        artifact = compile_model(loaded.module, loaded.example_inputs, profile, output,
                                 recipe=recipe, calibration=data, progress=progress, input_names=loaded.input_names,
                                 input_ranges=ranges, force=force)
    if as_json:
        _print_json(artifact.manifest)
        return
    deleg = artifact.manifest["export"].get("delegation") or {}
    table = Table(title=f"edgekit compile: {artifact.path}", show_header=False)
    table.add_row("format", artifact.format)
    table.add_row("size", f"{artifact.size_bytes:,} B")
    if artifact.size_bytes != artifact.dense_bytes:
        table.add_row("stored sparse", f"{artifact.dense_bytes:,} B after decoding on the device")
    table.add_row("recipe", " -> ".join(c.method for c in recipe) or "none")
    table.add_row("MACs", f"{artifact.manifest['model']['macs']:,}")
    numerics = artifact.manifest.get("numerics") or {}
    if "first_growing_layers" in numerics or "error" in numerics:
        from .compress.numerics import summary_line
        table.add_row("INT8 error", summary_line(numerics))
    elif numerics:
        table.add_row("INT8 cosine vs FP32", f"{numerics['cosine_vs_fp32']:.4f} (host reference inputs)")
    if deleg:
        table.add_row("delegated (XNNPACK)", ", ".join(f"{k} x{v}" for k, v in deleg["delegated_ops"].items()))
        for op, info in deleg["not_delegated_ops"].items():
            table.add_row(f"not delegated: {op} x{info['count']}", info["reason"])
    out.print(table)


def _parse_ranges(specs: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    from .errors import InputError
    ranges = {}
    for spec in specs:
        name, _, bounds = spec.partition("=")
        lo, _, hi = bounds.partition(":")
        try:
            ranges[name.strip()] = (int(lo), int(hi))
        except ValueError:
            raise InputError(f"--input-range {spec!r} is not NAME=LO:HI", "e.g. --input-range input_ids=0:30522") from None
    return ranges


def _bench_checks(report: dict[str, Any], max_latency_ms: float | None, min_accuracy: float | None,
                  min_cosine: float | None) -> None:
    failures = []
    if max_latency_ms is not None and report["latency_ms"]["p50"] > max_latency_ms:
        failures.append(f"p50 latency {report['latency_ms']['p50']:.3f} ms > {max_latency_ms} ms")
    acc = (report.get("accuracy") or {}).get("top1")
    if min_accuracy is not None and (acc is None or acc * 100 < min_accuracy):
        failures.append(f"accuracy {'unknown' if acc is None else f'{acc * 100:.2f}%'} < {min_accuracy}%")
    cosine = report["fidelity"]["vs_host"]["cosine"]
    if min_cosine is not None and cosine < min_cosine:
        failures.append(f"cosine vs host {cosine:.6f} < {min_cosine}")
    if failures:
        raise CheckFailed("check failed: " + "; ".join(failures))


@cli.command("bench")
@click.argument("artifact_dir", type=click.Path())
@click.option("--target", "-t", required=True, help="device profile name")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(1), help="timed runs after warm-up")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0))
@click.option("--eval", "eval_path", type=click.Path(dir_okay=False), help=".npz with 'x' (and 'y' for accuracy)")
@click.option("--transport", help="override the profile's default transport")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="seconds to wait for any one device reply")
@click.option("--max-latency-ms", type=float, help="fail (exit 4) if p50 latency is above this")
@click.option("--min-accuracy", type=float, help="fail (exit 4) if on-device accuracy (%) is below this")
@click.option("--min-cosine", type=float, help="fail (exit 4) if cosine vs the host reference is below this")
@click.option("--cooldown", default=0.0, show_default=True, type=click.FloatRange(0),
              help="seconds to rest between timed runs (thermal steadiness)")
@click.option("--host", help="SSH targets: USER@HOST[:PORT] of the device (emulated targets start their own)")
@click.option("--identity", type=click.Path(dir_okay=False), help="SSH private key (default: ssh-agent, ~/.ssh)")
@click.option("--known-hosts", type=click.Path(dir_okay=False), help="known-hosts file (default ~/.ssh/known_hosts)")
@click.option("--trust-host-key", is_flag=True, help="accept an unknown SSH host key and save it to known-hosts")
@click.option("--device-python", help="SSH targets: the device's Python with the runtime (default python3)")
@click.option("--serial-port", help="serial targets: the board's port (/dev/ttyACM0 or a pyserial URL); emulated "
              "targets start QEMU")
@click.option("--flash-tool", type=click.Choice(["pyocd", "openocd", "none"]),
              help="serial targets: how to flash a real board (default: pyocd or openocd, whichever is installed)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def bench_cmd(artifact_dir: str, target: str, runs: int, warmup: int, eval_path: str | None, transport: str | None,
              timeout: float, max_latency_ms: float | None, min_accuracy: float | None, min_cosine: float | None,
              cooldown: float, host: str | None, identity: str | None, known_hosts: str | None,
              trust_host_key: bool, device_python: str | None, serial_port: str | None, flash_tool: str | None,
              as_json: bool) -> None:
    """Deploy ARTIFACT_DIR to a target and measure it."""
    from .artifact import Artifact
    from .measure.runner import benchmark
    from .modelio import load_data
    from .report_view import single_table
    artifact = Artifact.load(artifact_dir)
    data = load_data(eval_path) if eval_path else None
    with progress_bars() as progress:
        options = {k: v for k, v in (("host", host), ("identity", identity), ("known_hosts", known_hosts),
                                     ("trust_host_key", trust_host_key), ("python", device_python),
                                     ("port", serial_port), ("flash_tool", flash_tool)) if v}
        report = benchmark(artifact, target, runs=runs, warmup=warmup, eval_data=data, transport=transport,
                           transport_options=options, timeout=timeout, cooldown_s=cooldown, progress=progress)
    if as_json:
        _print_json(report)
    else:
        out.print(single_table(report))
    _bench_checks(report, max_latency_ms, min_accuracy, min_cosine)


@cli.command("demo")
@click.option("--reports", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--runs", default=200, show_default=True, type=click.IntRange(1))
def demo_cmd(reports: str, runs: int) -> None:
    """Train a digits CNN, compile FP32 and INT8, benchmark both on the emulated devices, write a report."""
    from .demo import run_demo
    run_demo(Path(reports), runs=runs, console=out, progress_factory=progress_bars)


from .cli_compress import compress_cmd  # noqa: E402  (its own module: the command is long)

cli.add_command(compress_cmd)


@contextlib.contextmanager
def _quiet_third_parties() -> Iterator[Any]:
    """Yield the stream edgekit's own messages go to, while everything else written to stderr (TensorFlow/absl and
    XNNPACK lines from C++, torch and torchao logs, Python warnings) goes to a scratch file, so a command's error is
    the one line the user reads. EDGEKIT_DEBUG=1 leaves stderr alone."""
    if os.environ.get("EDGEKIT_DEBUG"):
        yield sys.stderr
        return
    import tempfile
    import warnings
    sys.stderr.flush()
    saved = os.dup(2)
    # Unbuffered underneath: click writes to the binary layer of the stream it is given.
    real = io.TextIOWrapper(os.fdopen(saved, "wb", buffering=0), write_through=True, line_buffering=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryFile() as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(scratch.fileno(), 2)
        err.file = real
        try:
            yield real
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            err.file = sys.stderr
            real.flush()


def main(argv: list[str] | None = None) -> None:
    with _quiet_third_parties() as stderr:
        code = _run(argv, stderr)
    sys.exit(code)


def _run(argv: list[str] | None, stderr: Any) -> int:
    """Run the command; returns the exit code (errors printed as one line on `stderr`)."""
    try:
        cli.main(args=argv, prog_name="edgekit", standalone_mode=False)
        return 0
    except click.exceptions.Abort:
        click.echo("edgekit: aborted", file=stderr)
        return 130
    except click.ClickException as exc:  # usage errors: exit 2
        exc.show(file=stderr)
        return exc.exit_code
    except EdgekitError as exc:
        if os.environ.get("EDGEKIT_DEBUG"):
            traceback.print_exc()
        click.echo(f"edgekit: error: {exc.one_line()}", file=stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("edgekit: interrupted", file=stderr)
        return 130
    except Exception as exc:  # a bug: still one line unless debugging
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        click.echo(f"edgekit: internal error: {type(exc).__name__}: {exc} (set EDGEKIT_DEBUG=1 for a traceback)",
                   file=stderr)
        return 70


if __name__ == "__main__":
    main()
