"""`edgekit bench ARTIFACT_DIR -t TARGET`: deploy an artifact to a device, measure it, check budgets.
`--place NAME` takes the device from a labgrid farm instead: the place is reserved and locked for the bench and
released after it (edgekit/farm).

The transport flags (--host, --serial-port, ...) are the options the registered transports declare
(edgekit.transport.options), so a new transport brings its own flags without an edit here."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click

from ..errors import CheckFailed
from ..transport.options import TransportOption, declared_options
from .options import coordinator_option, usage_check
from .output import err, out, print_json, progress_bars, write_atomically

F = TypeVar("F", bound=Callable[..., Any])
_PREFIX = "transport_"  # keeps a transport's keys apart from bench's own parameters (a `timeout` key, say)


def transport_flags(command: F) -> F:
    """Decorate `command` with one click option per declared transport option, in declaration order."""
    for option in reversed(declared_options()):  # click lists options in the reverse of decoration order
        command = click.option(option.flag, _PREFIX + option.key, **_click_kwargs(option))(command)
    return command


def _click_kwargs(option: TransportOption) -> dict[str, Any]:
    if option.is_flag:
        return {"is_flag": True, "help": option.help}
    if option.choices:
        return {"type": click.Choice(option.choices), "help": option.help}
    if option.is_path:
        return {"type": click.Path(dir_okay=False), "help": option.help}
    return {"help": option.help}


def given_transport_options(params: dict[str, Any]) -> dict[str, Any]:
    """The transport flags the user gave, keyed by the transport's option key (flags left off are left out)."""
    return {name[len(_PREFIX):]: value for name, value in params.items() if name.startswith(_PREFIX) and value}


def _check_meter_spec(spec: str) -> None:
    from ..energy.meter import parse_meter
    parse_meter(spec)


@click.command("bench")
@click.argument("artifact_dir", type=click.Path())
@click.option("--target", "-t", help="device profile name (with --place: taken from the place)")
@click.option("--place", help="a labgrid farm place to reserve, lock and bench on (docs/farm.md)")
@coordinator_option
@click.option("--place-timeout", default=600.0, show_default=True, type=click.FloatRange(0),
              help="seconds to wait for a locked place")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(1), help="timed runs after warm-up")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0))
@click.option("--eval", "eval_path", type=click.Path(dir_okay=False), help=".npz with 'x' (and 'y' for accuracy)")
@click.option("--transport", help="override the profile's default transport")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="seconds to wait for any one device reply")
@click.option("--max-latency-ms", type=float, help="fail (exit 4) if p50 latency is above this")
@click.option("--min-accuracy", type=float, help="fail (exit 4) if on-device accuracy (%) is below this")
@click.option("--min-cosine", type=float, help="fail (exit 4) if cosine vs the host reference is below this")
@click.option("--meter", callback=usage_check(_check_meter_spec), metavar="KIND[:ARGS]",
              help="measure energy with a power meter on the device's supply: on a microcontroller, windowed by "
                   "the firmware's inference pin (ppk2:PORT:supply=VOLTS, joulescope[:SERIAL]); on a Linux board, "
                   "sampled by the agent beside the inference (ina219:BUS:ADDR[:shunt=OHMS], ina260:BUS:ADDR) "
                   "(docs/energy.md)")
@click.option("--cooldown", default=0.0, show_default=True, type=click.FloatRange(0),
              help="seconds to rest between timed runs (thermal steadiness)")
@click.option("--generate", "new_tokens", type=click.IntRange(1), metavar="N",
              help="cached decoders: generate N greedy tokens; reports time to first token and tokens/s")
@click.option("--prompt-len", type=click.IntRange(1), help="with --generate: prompt length (default: the "
              "compiled reference prompt, whose host tokens the device's are checked against)")
@click.option("--profile", "profile_ops", is_flag=True,
              help="after the timed runs, profile each operator with the device runtime's own profiler and map it "
                   "to the module of the model it came from (the report's `ops`; docs/report.md)")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="also write the report as an HTML page (with --profile: a bar chart of the costliest operators)")
@transport_flags
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def bench_cmd(artifact_dir: str, target: str | None, place: str | None, coordinator: str | None,
              place_timeout: float, runs: int, warmup: int, eval_path: str | None, transport: str | None,
              timeout: float, max_latency_ms: float | None, min_accuracy: float | None, min_cosine: float | None,
              meter: str | None, cooldown: float, new_tokens: int | None, prompt_len: int | None,
              profile_ops: bool, html_path: str | None, as_json: bool, **transport_params: Any) -> None:
    """Deploy ARTIFACT_DIR to a target and measure it."""
    from ..artifact import Artifact
    from ..measure.runner import benchmark
    from ..modelio import load_data
    from ..report_view import generation_table, html_page, ops_table, single_table
    if target is None and place is None:
        raise click.UsageError("give --target NAME (or --place NAME of a labgrid farm)")
    _check_mode_options(new_tokens, prompt_len, eval_path, min_accuracy, min_cosine, meter, profile_ops, html_path)
    _check_new_file(html_path)
    artifact = Artifact.load(artifact_dir)
    data = load_data(eval_path) if eval_path else None
    with _device(target, place, coordinator, place_timeout, given_transport_options(transport_params)) as (
            target, options, place_facts):
        if new_tokens is not None:
            report = _generate(artifact, target, new_tokens, prompt_len, transport, options, timeout)
        else:
            with progress_bars() as progress:
                report = benchmark(artifact, target, runs=runs, warmup=warmup, eval_data=data, transport=transport,
                                   transport_options=options, timeout=timeout, cooldown_s=cooldown,
                                   progress=progress, meter=meter or (place_facts or {}).get("meter"),
                                   profile_ops=profile_ops)
    if place_facts is not None:
        report["place"] = {**place_facts, "released_at": time.time()}
    if as_json:
        print_json(report)
    else:
        out.print(generation_table(report) if new_tokens is not None else single_table(report))
        if report.get("ops"):
            out.print(ops_table(report))
    if html_path:
        page = html_page([report], [report["target"]["name"]], f"edgekit bench: {report['target']['name']}")
        write_atomically({Path(html_path): lambda path: path.write_text(page)})
    # --max-latency-ms applies to the median decode step of a generation report (the others were refused with it).
    _check(report, max_latency_ms, min_accuracy, min_cosine)


def _check_new_file(path: str | None) -> None:
    """An output file the user names must not exist yet (we never overwrite a user's file) and its folder must:
    said before any device time."""
    import os

    from ..errors import InputError
    if path is None:
        return
    if os.path.exists(path):
        raise InputError(f"{path} exists; edgekit does not overwrite it", "give a new file name or remove it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"the folder of {path} does not exist", f"create {folder} first")


def _check_mode_options(new_tokens: int | None, prompt_len: int | None, eval_path: str | None,
                        min_accuracy: float | None, min_cosine: float | None, meter: str | None,
                        profile_ops: bool = False, html_path: str | None = None) -> None:
    """Refuse options the chosen mode does not use (a check asked for and silently skipped would read as passed).
    One line and exit 1, as compile's conflicting options (click's usage errors take three lines)."""
    from ..errors import InputError
    if new_tokens is None:
        if prompt_len is not None:
            raise InputError("--prompt-len goes with --generate N")
        return
    given = [flag for flag, value in (("--eval", eval_path), ("--min-accuracy", min_accuracy),
                                      ("--min-cosine", min_cosine), ("--meter", meter),
                                      ("--profile", profile_ops or None), ("--html", html_path))
             if value is not None]
    if given:
        flags = " and ".join(given)
        raise InputError(f"{flags} {'go' if len(given) > 1 else 'goes'} with a benchmark of samples, not with "
                         f"--generate N", f"leave out {flags}, or run the two benches apart")


@contextlib.contextmanager
def _device(target: str | None, place: str | None, coordinator: str | None, place_timeout: float,
            options: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(profile name, transport options, place facts) for the bench: the user's, or a farm place's while it is
    locked (released when the bench ends, however it ends)."""
    if place is None:
        yield str(target), options, None
        return
    from ..errors import InputError
    from ..farm import coordinator_address, reserved_place
    address = coordinator_address(coordinator)
    asked = time.time()

    def waiting(holder: str) -> None:
        err.print(f"place '{place}' is locked by {holder}: waiting for it (up to {place_timeout:g} s)")

    with reserved_place(address, place, place_timeout, on_wait=waiting) as link:
        if target is not None and target != link.profile:
            raise InputError(f"place '{place}' holds a {link.profile}, not {target}",
                             "leave out --target, or choose a place that holds that device")
        locked = time.time()
        yield link.profile, {**link.options, **options}, {
            "name": place, "coordinator": address, "profile": link.profile, "locked_at": locked,
            "waited_s": round(locked - asked, 3), **({"meter": link.meter} if link.meter else {})}


def _check(report: dict[str, Any], max_latency_ms: float | None, min_accuracy: float | None,
           min_cosine: float | None) -> None:
    """Raise CheckFailed (exit 4) naming every budget the report misses."""
    from ..measure.budgets import budget_failures
    failures = budget_failures(report, max_latency_ms, min_accuracy, min_cosine)
    if failures:
        raise CheckFailed("check failed: " + "; ".join(failures))


def _generate(artifact: Any, target: str, new_tokens: int, prompt_len: int | None, transport: str | None,
              transport_options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """`bench --generate`: token generation on the device."""
    from ..measure.generation import benchmark_generation
    with progress_bars() as progress:
        return benchmark_generation(artifact, target, new_tokens=new_tokens, prompt_len=prompt_len,
                                    transport=transport, transport_options=transport_options, timeout=timeout,
                                    progress=progress)
