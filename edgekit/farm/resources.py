"""What a farm place offers edgekit, as labgrid resources, and how they become a transport's options.

A place is matched to an exporter's resource group. edgekit reads three resource classes from it:
- labgrid's `NetworkService` (address, username, port): a Linux board reached over SSH (a Pi, the emulated Pi);
- labgrid's `NetworkSerialPort` (host, port, speed, protocol): a microcontroller's serial line (RFC 2217 through
  ser2net for a real board's port, raw TCP for the emulated one's QEMU UART);
- `EdgekitTarget` (below, registered with labgrid's factory so labgrid's own tools accept it in environment
  files): which edgekit profile the board is, and what SSH and flashing need beyond labgrid's classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attr
from labgrid.factory import target_factory
from labgrid.resource.common import Resource

from ..errors import InputError
from ..transport.ssh import known_hosts_name

_optional_str = attr.validators.optional(attr.validators.instance_of(str))


@target_factory.reg_resource
@attr.s(eq=False)
class EdgekitTarget(Resource):
    """The edgekit side of a place.

    profile: the device profile (`edgekit targets list`), e.g. rpi4 or emu-cortex-m7.
    ssh_host_key: the board's SSH host key as `TYPE BASE64` (what `ssh-keyscan` prints after the host name); the
        client checks the board against it and against nothing else.
    identity: a private key file on the client's host, for boards the exporter serves on the same host (the
        emulated ones); on a shared farm users log in with their own key (`--identity`).
    device_python: the board's Python interpreter for the agent.
    flash_service: HOST:PORT of `edgekit farm export`'s flash service for a microcontroller (it boots the emulator
        with the image, or flashes the board with the probe attached to the exporter's host).
    meter: the power meter on the board's supply, as `bench --meter` takes it and as the client reaches it (e.g. a
        PPK2 behind the exporter's ser2net: `ppk2:rfc2217://exporter:5002:supply=3.3`); a bench on the place measures
        energy with it unless the user names another (docs/energy.md).
    """

    profile = attr.ib(validator=attr.validators.instance_of(str))
    ssh_host_key = attr.ib(default=None, validator=_optional_str)
    identity = attr.ib(default=None, validator=_optional_str)
    device_python = attr.ib(default=None, validator=_optional_str)
    flash_service = attr.ib(default=None, validator=_optional_str)
    meter = attr.ib(default=None, validator=_optional_str)


@dataclass(frozen=True)
class PlaceLink:
    """A reserved place as edgekit uses it: the profile and the transport options that reach the board."""

    place: str
    profile: str
    options: dict[str, Any]  # an SSH place's host key is in the known-hosts file options["known_hosts"] names
    meter: str | None = None  # the place's power meter (EdgekitTarget.meter)


def place_link(place: str, resources: dict[str, dict[str, Any]], scratch: Path) -> PlaceLink:
    """The link to the board behind `place`, from its resources' parameters ({class: params}).

    The host key is written to a known-hosts file in `scratch` so that the SSH transport verifies the board
    exactly as it verifies any host."""
    profile = profile_of(place, resources)
    target = resources["EdgekitTarget"]
    options: dict[str, Any] = {}
    if (service := resources.get("NetworkService")) is not None:
        port = int(service.get("port") or 22)
        options["host"] = f"{service['username']}@{service['address']}:{port}"
        if not target.get("ssh_host_key"):
            raise InputError(f"place '{place}' offers SSH without the board's host key",
                             "set ssh_host_key in its EdgekitTarget resource (docs/farm.md)")
        known_hosts = scratch / "known_hosts"
        known_hosts.write_text(f"{known_hosts_name(service['address'], port)} {target['ssh_host_key']}\n")
        options["known_hosts"] = str(known_hosts)
        if target.get("identity"):
            options["identity"] = target["identity"]
        if target.get("device_python"):
            options["python"] = target["device_python"]
    elif (serial := resources.get("NetworkSerialPort")) is not None:
        # labgrid's default protocol is RFC 2217 (what its exporter's ser2net speaks for a real board's port);
        # "raw" is a plain TCP byte stream (QEMU's UART). pyserial opens either by URL.
        scheme = "socket" if serial.get("protocol") == "raw" else "rfc2217"
        options["port"] = f"{scheme}://{serial['host']}:{int(serial['port'])}"
        options["baud"] = int(serial.get("speed") or 115200)
        if target.get("flash_service"):
            options["flash_service"] = target["flash_service"]
        else:
            options["flash_tool"] = "none"  # the board runs edgekit's firmware already (flashed by its owner)
    else:
        raise InputError(f"place '{place}' offers neither a NetworkService nor a NetworkSerialPort",
                         "match the board's resources to the place (labgrid-client -p PLACE add-match ...)")
    return PlaceLink(place, profile, options, target.get("meter"))


def profile_of(place: str, resources: dict[str, dict[str, Any]]) -> str:
    """The edgekit profile named by the EdgekitTarget among `place`'s resources ({class: params})."""
    target = resources.get("EdgekitTarget")
    if target is None or not target.get("profile"):
        raise InputError(f"place '{place}' has no EdgekitTarget resource naming its edgekit profile",
                         "add one to the exporter's configuration (docs/farm.md)")
    return str(target["profile"])
