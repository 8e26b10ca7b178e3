"""`edgekit targets list|show`: the device profiles."""
from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from .output import err, out, print_json


@click.group("targets")
def targets() -> None:
    """Device profiles (targets/*.toml)."""


@targets.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def targets_list(as_json: bool) -> None:
    """List every device profile."""
    from ..profiles import list_profiles
    profiles = list_profiles()
    if as_json:
        print_json([p.to_dict() for p in profiles])
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
    from ..profiles import load_profile
    profile = load_profile(name)
    if as_json:
        print_json(profile.to_dict())
        return
    table = Table(title=f"{profile.name}: {profile.description}", show_header=False)
    for key, value in _flatten(profile.to_dict()):
        table.add_row(key, str(value))
    out.print(table)


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
    from ..errors import InputError
    from ..profiles import load_profile
    profile = load_profile(name)
    options = profile.emulation.options if profile.emulation else {}
    if "image" not in options:
        raise InputError(f"target '{profile.name}' boots no disk image: there is nothing to prepare")
    recipe = ImageRecipe.load(str(options["image"]))
    cached = cached_image(recipe) is not None
    image = ensure_image(recipe, lambda message: err.print(f"{profile.name}: {message}", soft_wrap=True))
    out.print(f"{profile.name}: image {recipe.name} ({'cached' if cached else 'built'}) at {image.dir}", soft_wrap=True)
