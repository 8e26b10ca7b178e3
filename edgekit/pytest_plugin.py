"""pytest plugin: hardware-in-the-loop tests of a model on a real or emulated device.

Installed with edgekit (the `pytest11` entry point) and inert until a test asks for its fixtures. Options:
`--edgekit-target NAME` (a profile: `edgekit targets list`), the transport flags of `edgekit bench` prefixed with
`--edgekit-` (`--edgekit-host USER@HOST[:PORT]`, `--edgekit-identity`, `--edgekit-known-hosts`,
`--edgekit-serial-port`, ...) for real hardware, `--edgekit-place NAME` (with `--edgekit-coordinator HOST:PORT`)
for a device of a labgrid farm, reserved and locked for the session (docs/farm.md), and `--edgekit-runs N`.

Fixtures:
- `edgekit_device` (session): the target. An emulated board with its own OS (the Arm VMs, the netns Pi) is started
  once and torn down at the end; a microcontroller's QEMU starts per artifact, with its firmware. A farm place is
  locked for the session and released at its end. Without `--edgekit-target` or `--edgekit-place` the test is
  skipped with the reason. A device the user named is never skipped: an unknown target, a coordinator that does not
  answer, a place it does not have or one holding another device than `--edgekit-target` stop pytest before it
  collects (a usage error: one `ERROR:` line, exit status 4); an emulator or a lock that fails later errors every
  test that needs the device.
- `edgekit_compile` (session): `edgekit_compile(model, example_inputs=None, recipe=(), calibration=None)` ->
  Artifact, compiled once per session for the target. `model` is an nn.Module or a "file.py:factory" / ".pt2" spec.
- `edgekit_bench`: `edgekit_bench(artifact, eval_data=None)` -> the report (docs/report.md), checked against the
  test's `edgekit` marker and attached to the test's JUnit XML record as properties.

Marker: `@pytest.mark.edgekit(target_family="rpi", max_latency_ms=..., min_accuracy=..., min_cosine=...)`: skips
when the target is of another family, fails with the report's figures when a budget is broken (accuracy in %). A
marker with another keyword, a budget that is not a number or a family no profile has is a usage error at
collection.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

RUNS = 50
_PROPERTIES = (("latency_p50_ms", ("latency_ms", "p50")), ("latency_time_base", ("latency_ms", "time_base_label")),
               ("instructions_per_inference", ("counters", "instructions_per_inference")),
               ("device_estimate_ms", ("device_estimate", "latency_ms")), ("accuracy_top1", ("accuracy", "top1")),
               ("cosine_vs_host", ("fidelity", "vs_host", "cosine")), ("peak_rss_bytes", ("memory", "peak_rss_bytes")),
               ("size_bytes", ("artifact", "size_bytes")), ("energy_mj", ("energy", "per_inference_mj")),
               ("energy_measured", ("energy", "measured")))


def _option_dest(key: str) -> str:
    return f"edgekit_transport_{key}"


def pytest_addoption(parser: pytest.Parser) -> None:
    from .transport.options import declared_options
    group = parser.getgroup("edgekit", "hardware-in-the-loop tests with edgekit")
    group.addoption("--edgekit-target", help="device profile to test on (edgekit targets list); none: skip")
    group.addoption("--edgekit-place", help="a labgrid farm place to lock for the session and test on")
    group.addoption("--edgekit-coordinator", help="labgrid coordinator HOST:PORT (default: $LG_COORDINATOR, "
                    "else 127.0.0.1:20408)")
    group.addoption("--edgekit-runs", type=int, default=RUNS, help=f"timed runs per bench, 1 or more (default {RUNS})")
    group.addoption("--edgekit-meter", help="power meter on the device's supply, as `edgekit bench --meter` takes it "
                    "(default: the place's meter, if it has one)")
    for option in declared_options():
        kwargs: dict[str, Any] = {"action": "store_true"} if option.is_flag else {}
        group.addoption(f"--edgekit-{option.flag.lstrip('-')}", dest=_option_dest(option.key), help=option.help,
                        **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "edgekit(target_family=None, max_latency_ms=None, min_accuracy=None, "
                                       "min_cosine=None): budgets for edgekit_bench; skip on other device families")
    _check_named_device(config)


def _check_named_device(config: pytest.Config) -> None:
    """The cheap checks of what the user named, before collection: a typo must not skip every test and pass."""
    from .errors import EdgekitError
    if config.getoption("edgekit_runs") < 1:
        raise pytest.UsageError(f"--edgekit-runs {config.getoption('edgekit_runs')}: give 1 or more timed runs")
    name, place = config.getoption("edgekit_target"), config.getoption("edgekit_place")
    try:
        if config.getoption("edgekit_meter"):
            from .energy.meter import parse_meter
            parse_meter(config.getoption("edgekit_meter"))
        if place:
            from .farm import place_profile
            held = place_profile(config.getoption("edgekit_coordinator"), place)
            if name and name != held:
                raise pytest.UsageError(f"--edgekit-place {place} holds a {held}, not --edgekit-target {name} "
                                        "(leave out --edgekit-target, or choose a place that holds that device)")
        elif name:
            from .profiles import load_profile
            load_profile(name)
    except EdgekitError as exc:
        raise pytest.UsageError(f"edgekit device {place or name}: {exc.one_line()}") from None


def _budget_names() -> tuple[str, ...]:
    from .measure.budgets import budget_failures
    return tuple(inspect.signature(budget_failures).parameters)[1:]  # after the report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every `edgekit` marker checked at collection, so a typo fails at once rather than mid-session."""
    from .errors import EdgekitError
    marked = [(item, mark) for item in items for mark in item.iter_markers("edgekit")]
    try:
        families = _known_families() if any("target_family" in mark.kwargs for _, mark in marked) else set()
    except EdgekitError as exc:
        raise pytest.UsageError(f"edgekit targets: {exc.one_line()}") from None
    for item, mark in marked:
        problem = _marker_problem(mark, families)
        if problem:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.edgekit: {problem}")


def _marker_problem(mark: pytest.Mark, families: set[str]) -> str | None:
    """What is wrong with one `edgekit` marker, or None."""
    known = ("target_family", *_budget_names())
    if mark.args:
        return f"takes keywords only ({', '.join(known)}), got {mark.args!r}"
    for key, value in mark.kwargs.items():
        if key not in known:
            return f"unknown keyword '{key}' (known: {', '.join(known)})"
        if key != "target_family" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} must be a number, got {value!r}"
    family = mark.kwargs.get("target_family")
    if family is not None and family not in families:
        return f"target_family '{family}' is no profile's family (families: {', '.join(sorted(families))})"
    return None


def _known_families() -> set[str]:
    from .profiles import scan_profiles
    profiles, _ = scan_profiles()  # a broken profile is its own error, where it is used
    return {p.family for p in profiles}


@dataclass
class EdgekitDevice:
    """The device under test: its profile, the options that reach it, and the emulator kept running for it."""

    profile: Any
    options: dict[str, Any]
    emulator: Any = None
    workdir: Path = field(default_factory=Path)
    place: str | None = None  # the labgrid place locked for the session, if the device came from a farm
    meter: str | None = None  # the power meter on its supply (--edgekit-meter, else the place's)

    @property
    def name(self) -> str:
        return self.profile.name

    def transport_options(self) -> dict[str, Any]:
        return {**self.options, **({"emulator": self.emulator} if self.emulator is not None else {})}


@pytest.fixture(scope="session")
def edgekit_device(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from .errors import EdgekitError
    from .profiles import load_profile
    from .transport.options import declared_options
    name = request.config.getoption("edgekit_target")
    place = request.config.getoption("edgekit_place")
    if not name and not place:
        pytest.skip("no edgekit device: pass --edgekit-target NAME or --edgekit-place NAME")
    options = {o.key: v for o in declared_options()
               if (v := request.config.getoption(_option_dest(o.key), default=None))}
    with contextlib.ExitStack() as stack:
        try:
            if place:
                from .farm import reserved_place
                link = stack.enter_context(reserved_place(request.config.getoption("edgekit_coordinator"), place))
                if name and name != link.profile:
                    pytest.fail(f"--edgekit-place {place} holds a {link.profile}, not --edgekit-target {name}",
                                pytrace=False)
                name, options = link.profile, {**link.options, **options}
            device = EdgekitDevice(load_profile(name), options, workdir=tmp_path_factory.mktemp("edgekit"),
                                   place=place, meter=request.config.getoption("edgekit_meter") or
                                   (link.meter if place else None))
            profile = device.profile
            # A board with its own OS is booted once for the session; firmware boards start with each artifact's
            # image.
            if not place and profile.emulation is not None and profile.emulation.kind and not options.get("host"):
                from .emulators import emulator_for
                emulator = emulator_for(profile)
                if not emulator.takes_image:
                    stack.callback(emulator.stop)
                    emulator.start()
                    device.emulator = emulator
        except EdgekitError as exc:  # named by the user: an error, never a skip that reads as a pass
            pytest.fail(f"edgekit device {place or name} cannot be had: {exc.one_line()}", pytrace=False)
        yield device


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("edgekit")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture(autouse=True)
def _edgekit_family(request: pytest.FixtureRequest) -> None:
    """Skip an `edgekit`-marked test whose target_family is not the device's (only when a device is chosen)."""
    family = _marker(request).get("target_family")
    if family and (request.config.getoption("edgekit_target") or request.config.getoption("edgekit_place")):
        device = request.getfixturevalue("edgekit_device")  # a place says what it holds once it is locked
        if device.profile.family != family:
            pytest.skip(f"test is for {family} devices; {device.name} is a {device.profile.family}")


@pytest.fixture(scope="session")
def edgekit_compile(edgekit_device: EdgekitDevice) -> Callable[..., Any]:
    from .compiler import compile_model
    from .modelio import load_model
    done: dict[tuple, Any] = {}
    loaded_specs: dict[str, Any] = {}  # a spec's factory runs once per session (it may train), not once per recipe

    def compile_for_device(model: Any, example_inputs: Any = None, recipe: tuple | list = (),
                           calibration: Any = None):
        key = (model if isinstance(model, str) else id(model), repr(list(recipe)), id(calibration))
        if key not in done:
            names = None
            if isinstance(model, str):
                if model not in loaded_specs:
                    loaded_specs[model] = load_model(model)
                loaded = loaded_specs[model]
                model, names = copy.deepcopy(loaded.module), loaded.input_names or None
                example_inputs = example_inputs or loaded.example_inputs
            out = edgekit_device.workdir / f"artifact-{len(done)}"
            done[key] = compile_model(model, example_inputs, edgekit_device.profile, out, recipe=list(recipe),
                                      calibration=calibration, input_names=names)
        return done[key]

    return compile_for_device


def _dig(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@pytest.fixture
def edgekit_bench(edgekit_device: EdgekitDevice, request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    from .measure.budgets import budget_failures
    from .measure.runner import benchmark
    budgets = {k: v for k, v in _marker(request).items() if k != "target_family"}

    def bench(artifact: Any, eval_data: Any = None) -> dict[str, Any]:
        report = benchmark(artifact, edgekit_device.profile, runs=request.config.getoption("edgekit_runs"),
                           warmup=5, eval_data=eval_data, transport_options=edgekit_device.transport_options(),
                           meter=edgekit_device.meter)
        # The test's user properties: pytest writes them into the JUnit XML record of the test (--junitxml).
        properties = request.node.user_properties
        properties.append(("edgekit_target", edgekit_device.name))
        if edgekit_device.place:
            properties.append(("edgekit_place", edgekit_device.place))
        for name, path in _PROPERTIES:
            value = _dig(report, path)
            if value is not None:
                properties.append((f"edgekit_{name}", value))
        failures = budget_failures(report, **budgets)
        if failures:
            pytest.fail(f"edgekit budgets broken on {edgekit_device.name}: " + "; ".join(failures), pytrace=False)
        return report

    return bench
