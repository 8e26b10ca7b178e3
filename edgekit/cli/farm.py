"""`edgekit farm export TARGET...`: serve emulated devices to a labgrid farm until interrupted (docs/farm.md)."""
from __future__ import annotations

import time

import click

from .options import coordinator_option, usage_check
from .output import err, out


def _distinct_targets(value: tuple[str, ...]) -> None:
    from ..farm.exporter import check_distinct
    check_distinct(value)


@click.group("farm")
def farm() -> None:
    """Device farms on labgrid: export emulated devices; bench on a place with `edgekit bench --place`."""


@farm.command("export")
@click.argument("targets", nargs=-1, required=True, callback=usage_check(_distinct_targets))
@coordinator_option
@click.option("--name", "exporter_name", default="edgekit", show_default=True,
              help="the exporter's name on the coordinator")
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="address the exported serial ports and flash services listen on")
def farm_export(targets: tuple[str, ...], coordinator: str | None, exporter_name: str, bind: str) -> None:
    """Start the emulated TARGETS, export them with labgrid-exporter and create a place per device (named like the
    target) on the coordinator. Runs until Ctrl-C or SIGTERM, then withdraws them and stops every device."""
    from ..farm import coordinator_address
    from ..farm.exporter import FarmExporter
    exporter = FarmExporter(coordinator_address(coordinator), exporter_name, list(targets), bind=bind)
    err.print(f"starting {', '.join(targets)} ...")
    try:
        exporter.start()
        for device in exporter.devices:
            resources = ", ".join(cls for cls in device.resources if cls != "EdgekitTarget")
            out.print(f"place {device.profile.name}: {exporter_name}/{device.profile.name} ({resources})")
        out.print(f"farm ready on {exporter.coordinator}; Ctrl-C to stop", highlight=False)
        while True:
            exporter.check_alive()
            time.sleep(1.0)
    finally:
        exporter.stop()


@farm.command("flash-service")
@click.argument("target")
@click.option("--listen", default="127.0.0.1:0", show_default=True, help="HOST:PORT to serve on (port 0: a free one)")
@click.option("--flash-tool", type=click.Choice(("pyocd", "openocd")), help="the probe's tool (default: whichever "
              "is installed)")
@click.option("--pyocd-target", help="pyocd's name for the chip (default: the profile's name)")
@click.option("--openocd-config", help="openocd's board config (e.g. board/stm32f7discovery.cfg)")
def farm_flash_service(target: str, listen: str, flash_tool: str | None, pyocd_target: str | None,
                       openocd_config: str | None) -> None:
    """Serve the flash service of a REAL microcontroller TARGET whose probe is attached to this host, for a farm
    place's EdgekitTarget `flash_service` (docs/farm.md). Runs until Ctrl-C or SIGTERM."""
    from ..errors import InputError
    from ..farm.flash_service import FlashService
    from ..profiles import load_profile
    from ..transport.serial import flash_real_board
    profile = load_profile(target)
    if profile.emulated:
        raise InputError(f"'{target}' is emulated", f"export it with: edgekit farm export {target}")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--listen '{listen}' is not HOST:PORT")
    options = {k: v for k, v in (("flash_tool", flash_tool), ("pyocd_target", pyocd_target),
                                 ("openocd_config", openocd_config)) if v}
    service = FlashService(lambda image, load_address: flash_real_board(profile, options, image, load_address),
                           host=host, port=int(port)).start()
    try:
        out.print(f"flash service for {target} on {service.address}; Ctrl-C to stop", highlight=False)
        while True:
            time.sleep(1.0)
    finally:
        service.stop()
