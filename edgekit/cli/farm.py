"""`edgekit farm export TARGET...`: serve emulated devices to a labgrid farm until interrupted (docs/farm.md)."""
from __future__ import annotations

import time

import click

from .output import err, out


@click.group("farm")
def farm() -> None:
    """Device farms on labgrid: export emulated devices; bench on a place with `edgekit bench --place`."""


@farm.command("export")
@click.argument("targets", nargs=-1, required=True)
@click.option("--coordinator", help="labgrid coordinator HOST:PORT (default: $LG_COORDINATOR, else 127.0.0.1:20408)")
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
