"""`edgekit targets list|show`: the device profiles."""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..errors import InputError
from ..units import format_bytes, format_field, format_quantity
from .output import err, out, print_json


@click.group("targets")
def targets() -> None:
    """Device profiles (targets/*.toml)."""


@targets.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def targets_list(as_json: bool) -> None:
    """List every device profile. A profile file that does not load is named after the others are listed."""
    from ..profiles import scan_profiles
    profiles, problems = scan_profiles()
    if as_json:
        print_json([p.to_dict() for p in profiles])
    else:
        out.print(_targets_view(profiles))
    if problems:
        raise _unloadable(problems)


_LIST_COLUMNS = ("name", "family", "core", "clock", "RAM", "formats", "transport", "stands for")


def _targets_view(profiles: list[Any]) -> Any:
    """The profiles as a table where it fits whole, else one line per target (a pipe, an 80-column terminal)."""
    from ..report_view import Fitting
    table = Table(title="edgekit targets")
    for column in _LIST_COLUMNS:
        table.add_column(column)
    lines = []
    for p in profiles:
        hw = p.hardware
        clock, ram = format_quantity(hw.clock_hz, "hertz"), format_bytes(hw.ram_bytes)
        formats = ",".join(p.software.formats)
        table.add_row(p.name, p.family, hw.core, clock, ram, formats, p.default_transport, p.stands_for or "")
        stands_for = f", stands for {p.stands_for}" if p.stands_for else ""
        lines.append(Text(f"{p.name} ({p.family}): {hw.core} at {clock}, {ram} RAM, {formats} over "
                          f"{p.default_transport}{stands_for}"))
    return Fitting(table, lines)


def _unloadable(problems: list[Any]) -> InputError:
    """One error naming every profile file that does not load."""
    files = "profile file does not" if len(problems) == 1 else f"{len(problems)} profile files do not"
    return InputError(f"{files} load: " + "; ".join(p.one_line() for p in problems),
                      "fix or remove it; the targets that load are listed")


@targets.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def targets_show(name: str, as_json: bool) -> None:
    """Show one device profile, NAME or a path to a .toml file."""
    from ..profiles import load_profile
    from ..report_view import metric_table
    profile = load_profile(name)
    if as_json:
        print_json(profile.to_dict())
        return
    pairs = [(key, format_field(key, value)) for key, value in _flatten(profile.to_dict())]
    out.print(metric_table(f"{profile.name}: {profile.description}", pairs, header=False))


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested tables as dotted keys; empty values left out."""
    items: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            items += _flatten(v, f"{prefix}{k}.")
        elif v not in (None, {}, ()):
            items.append((f"{prefix}{k}", v))
    return items


@targets.command("prepare")
@click.argument("name")
def targets_prepare(name: str) -> None:
    """Build (or find cached) what emulated target NAME boots, e.g. the Arm disk image of emu-rpi4 (root, minutes)."""
    from ..emulators.arm_image import ImageRecipe, cached_image, ensure_image
    from ..profiles import load_profile
    profile = load_profile(name)
    options = profile.emulation.options if profile.emulation else {}
    if "image" not in options:
        raise InputError(f"target '{profile.name}' boots no disk image: there is nothing to prepare")
    recipe = ImageRecipe.load(str(options["image"]))
    cached = cached_image(recipe) is not None
    image = ensure_image(recipe, lambda message: err.print(f"{profile.name}: {message}", soft_wrap=True))
    out.print(f"{profile.name}: image {recipe.name} ({'cached' if cached else 'built'}) at {image.dir}", soft_wrap=True)
