"""Device profiles: one TOML file per device under targets/, validated on load.

A profile is data. Code asks it about capabilities (`accepts_format`, `has_feature`, `ram_bytes`) and never
branches on a board name. An emulated target names the real profile it stands for (`stands_for`) and takes that
profile's hardware, software and power sections, adding how it is started.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import InputError, ProfileError
from .units import parse_quantity

BUILTIN_TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"


@dataclass(frozen=True)
class Hardware:
    isa: str
    core: str
    cores: int
    clock_hz: float
    ram_bytes: float
    storage_bytes: float
    features: tuple[str, ...] = ()
    flash_bytes: float | None = None  # microcontrollers: code + const data


@dataclass(frozen=True)
class Software:
    formats: tuple[str, ...]
    runtimes: tuple[str, ...]
    dtypes: tuple[str, ...]


@dataclass(frozen=True)
class Power:
    idle_w: float
    active_w: float
    source: str


@dataclass(frozen=True)
class Performance:
    """Throughput figures used only for labelled estimates of latency on the real device."""

    source: str
    int8_ops: float | None = None
    fp32_flops: float | None = None
    cycles_per_instruction: float | None = None


@dataclass(frozen=True)
class Firmware:
    """How to build C firmware for a microcontroller: compiler flags and the memory map (sizes come from
    [hardware]). An emulated profile's [emulation.options] may override the board facts (origins, uart_base,
    systick) for the emulator's board while the sizes stay the real device's."""

    mcpu: str
    float_abi: str = "soft"
    fpu: str | None = None
    flash_origin: int = 0
    ram_origin: int = 0x20000000
    port: tuple[str, ...] = ()       # firmware/ports/ folders built in (UART driver, clock tree); () = none yet
    uart_base: int | None = None
    systick_hz: float | None = None
    stack_bytes: float = 8192
    port_config: dict[str, int] = field(default_factory=dict)  # board facts for the port: -DEK_<NAME>=value
    pyocd_target: str | None = None    # pyocd's name for the chip
    openocd_config: str | None = None  # openocd's board config


@dataclass(frozen=True)
class Emulation:
    description: str
    kind: str | None = None  # the emulator edgekit starts (emulators/); None when the transport is the device itself
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    family: str
    hardware: Hardware
    software: Software
    power: Power
    default_transport: str
    performance: Performance | None = None
    # What the host speaks to on the device ([transport] agent): "python", edgekit's agent (edgekit/agent/agent.py),
    # or "native", ek_pte_runner itself for a .pte, on a device with no Python (stock Android; session/native_runner.py)
    agent: str = "python"
    emulation: Emulation | None = None
    stands_for: str | None = None
    firmware: Firmware | None = None
    path: str = ""

    @property
    def emulated(self) -> bool:
        return self.emulation is not None

    def accepts_format(self, fmt: str) -> bool:
        return fmt in self.software.formats

    def has_feature(self, feature: str) -> bool:
        return feature in self.hardware.features

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- schema: section -> key -> (parser, required) -------------------------------------------------------------

def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"expected a non-empty string, got {v!r}")
    return v


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"expected a positive integer, got {v!r}")
    return v


def _float(v: Any) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"expected a positive number, got {v!r}")
    return float(v)


def _address(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
        raise ValueError(f"expected a 32-bit address (e.g. 0x20000000), got {v!r}")
    return v


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"expected a list of strings, got {v!r}")
    return tuple(v)


def _folders(v: Any) -> tuple[str, ...]:
    return (_str(v),) if isinstance(v, str) else _str_list(v)


def _int_table(v: Any) -> dict[str, int]:
    table = _table(v)
    for key, value in table.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key) or not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected lower_case names with integer values, got {key} = {value!r}")
    return table


def _table(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"expected a table, got {v!r}")
    return v


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        if v not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {v!r}")
        return v
    return parse


def _qty(kind: str) -> Callable[[Any], float]:
    return lambda v: parse_quantity(v, kind)


Spec = dict[str, tuple[Callable[[Any], Any], bool]]
_TOP: Spec = {"name": (_str, True), "description": (_str, True), "family": (_str, False),
              "stands_for": (_str, False)}
_SECTIONS: dict[str, Spec] = {
    "hardware": {"isa": (_str, True), "core": (_str, True), "cores": (_int, True), "clock": (_qty("hertz"), True),
                 "ram": (_qty("bytes"), True), "storage": (_qty("bytes"), True), "flash": (_qty("bytes"), False),
                 "features": (_str_list, False)},
    "software": {"formats": (_str_list, True), "runtimes": (_str_list, True), "dtypes": (_str_list, True)},
    "power": {"idle": (_qty("watts"), True), "active": (_qty("watts"), True), "source": (_str, True)},
    "performance": {"int8": (_qty("ops"), False), "fp32": (_qty("ops"), False),
                    "cycles_per_instruction": (_float, False), "source": (_str, True)},
    "transport": {"default": (_str, True), "agent": (_choice("python", "native"), False)},
    "emulation": {"kind": (_str, False), "description": (_str, True), "options": (_table, False)},
    "firmware": {"mcpu": (_str, True), "float_abi": (_str, False), "fpu": (_str, False),
                 "flash_origin": (_address, False), "ram_origin": (_address, False), "port": (_folders, False),
                 "uart_base": (_address, False), "systick": (_qty("hertz"), False), "stack": (_qty("bytes"), False),
                 "port_config": (_int_table, False), "pyocd_target": (_str, False),
                 "openocd_config": (_str, False)},
}
# Sections an emulated profile may leave out: it takes them from the profile it stands for.
_INHERITED = ("hardware", "software", "power", "performance", "firmware")


def _check(path: Path, where: str, raw: dict[str, Any], spec: Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in raw:
        if key not in spec:
            raise ProfileError(f"{path}: unknown key '{where}{key}'", f"known keys: {', '.join(spec)}")
    for key, (parse, required) in spec.items():
        if key not in raw:
            if required:
                raise ProfileError(f"{path}: missing field '{where}{key}'")
            continue
        try:
            out[key] = parse(raw[key])
        except ValueError as exc:
            raise ProfileError(f"{path}: bad value for '{where}{key}': {exc}") from None
    return out


def _parse_raw(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"profile file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    for key, value in raw.items():
        if isinstance(value, dict) and key not in _SECTIONS:
            raise ProfileError(f"{path}: unknown section '[{key}]'", f"known sections: {', '.join(_SECTIONS)}")
    parsed: dict[str, Any] = _check(path, "", top, _TOP)
    for section, spec in _SECTIONS.items():
        if section in raw:
            parsed[section] = _check(path, f"{section}.", raw[section], spec)
    return parsed


def _build(path: Path, p: dict[str, Any]) -> Profile:
    for section in ("hardware", "software", "power", "transport"):
        if section not in p:
            raise ProfileError(f"{path}: missing section '[{section}]'")
    hw, sw, pw = p["hardware"], p["software"], p["power"]
    perf = p.get("performance")
    emu = p.get("emulation")
    fw = p.get("firmware")
    return Profile(
        name=p["name"], description=p["description"], family=p.get("family", "other"),
        hardware=Hardware(isa=hw["isa"], core=hw["core"], cores=hw["cores"], clock_hz=hw["clock"],
                          ram_bytes=hw["ram"], storage_bytes=hw["storage"], features=hw.get("features", ()),
                          flash_bytes=hw.get("flash")),
        software=Software(formats=sw["formats"], runtimes=sw["runtimes"], dtypes=sw["dtypes"]),
        power=Power(idle_w=pw["idle"], active_w=pw["active"], source=pw["source"]),
        performance=None if perf is None else Performance(
            source=perf["source"], int8_ops=perf.get("int8"), fp32_flops=perf.get("fp32"),
            cycles_per_instruction=perf.get("cycles_per_instruction")),
        default_transport=p["transport"]["default"], agent=p["transport"].get("agent", "python"),
        emulation=None if emu is None else Emulation(kind=emu.get("kind"), description=emu["description"],
                                                     options=emu.get("options", {})),
        stands_for=p.get("stands_for"),
        firmware=None if fw is None else Firmware(
            mcpu=fw["mcpu"], float_abi=fw.get("float_abi", "soft"), fpu=fw.get("fpu"),
            flash_origin=fw.get("flash_origin", 0), ram_origin=fw.get("ram_origin", 0x20000000),
            port=fw.get("port", ()), uart_base=fw.get("uart_base"), systick_hz=fw.get("systick"),
            stack_bytes=fw.get("stack", 8192), port_config=fw.get("port_config", {}),
            pyocd_target=fw.get("pyocd_target"), openocd_config=fw.get("openocd_config")),
        path=str(path),
    )


def search_dirs() -> list[Path]:
    """Built-in targets/ plus any folders in EDGEKIT_TARGETS_PATH (os.pathsep-separated), later ones winning.

    A folder named there that does not exist is an error: its profiles would be missing without a word."""
    extra = [Path(d) for d in os.environ.get("EDGEKIT_TARGETS_PATH", "").split(os.pathsep) if d]
    for directory in extra:
        if not directory.is_dir():
            raise InputError(f"EDGEKIT_TARGETS_PATH names {directory}, which is not a folder",
                             "create it, or take it out of EDGEKIT_TARGETS_PATH")
    return [BUILTIN_TARGETS_DIR, *extra]


def _index() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in search_dirs():
        for path in sorted(directory.rglob("*.toml")):
            found[path.stem] = path
    return found


def load_profile_file(path: str | Path, _seen: tuple[str, ...] = ()) -> Profile:
    """Load and validate one profile file; an emulated profile is merged with the profile it stands for."""
    path = Path(path)
    parsed = _parse_raw(path)
    if path.stem != parsed.get("name"):
        raise ProfileError(f"{path}: 'name' must equal the file name '{path.stem}'")
    base_name = parsed.get("stands_for")
    if base_name:
        if base_name in _seen:
            raise ProfileError(f"{path}: 'stands_for' loops through {' -> '.join(_seen)}")
        base = _parsed_for(base_name, path, (*_seen, parsed["name"]))
        if "emulation" not in parsed:
            raise ProfileError(f"{path}: a profile with 'stands_for' needs an [emulation] section")
        for section in _INHERITED:
            if section in parsed:
                raise ProfileError(f"{path}: section '[{section}]' comes from '{base_name}' and may not be repeated")
            if section in base:
                parsed[section] = base[section]
        parsed.setdefault("family", base.get("family", "other"))
    return _build(path, parsed)


def _parsed_for(name: str, referrer: Path, seen: tuple[str, ...]) -> dict[str, Any]:
    index = _index()
    if name not in index:
        raise ProfileError(f"{referrer}: 'stands_for' names unknown profile '{name}'")
    load_profile_file(index[name], seen)  # validates the base, including its own stands_for chain
    return _parse_raw(index[name])


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a profile by name (searching targets/) or by path to a .toml file."""
    if isinstance(name_or_path, Path):
        name_or_path = str(name_or_path)
    if not isinstance(name_or_path, str):
        raise InputError(f"the target must be a profile name or the path of a .toml file, got "
                         f"{type(name_or_path).__name__}", "see `edgekit targets list`")
    if name_or_path.endswith(".toml"):
        return load_profile_file(name_or_path)
    index = _index()
    if name_or_path not in index:
        raise InputError(f"unknown target '{name_or_path}'", f"known targets: {', '.join(sorted(index))}")
    return load_profile_file(index[name_or_path])


def scan_profiles() -> tuple[list[Profile], list[ProfileError]]:
    """Every profile that loads, sorted by family then name, and the error of each one that does not (one broken
    file on EDGEKIT_TARGETS_PATH hides none of the others)."""
    profiles: list[Profile] = []
    problems: list[ProfileError] = []
    for path in _index().values():
        try:
            profiles.append(load_profile_file(path))
        except ProfileError as exc:
            problems.append(exc)
    return sorted(profiles, key=lambda p: (p.family, p.name)), problems


def list_profiles() -> list[Profile]:
    """Every profile found, validated, sorted by family then name; the first broken one raises its ProfileError."""
    profiles, problems = scan_profiles()
    if problems:
        raise problems[0]
    return profiles
