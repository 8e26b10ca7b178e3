"""Options a transport takes from its user, declared by the transport itself (as data) so that front ends (the CLI's
`bench`, the pytest plugin) offer them without knowing any transport by name."""
from __future__ import annotations

from dataclasses import dataclass

from .base import registered_transports


@dataclass(frozen=True)
class TransportOption:
    """One user-settable option: `key` in the transport's options dict, offered as `--flag` on the command line.

    Transports that share a key (the device's Python for SSH and adb) declare it identically; the first declaration
    seen wins in front ends."""

    key: str
    flag: str
    help: str
    is_flag: bool = False          # a switch (True when given) rather than a value
    choices: tuple[str, ...] = ()  # the accepted values, when the set is closed
    is_path: bool = False          # a file on this host (checked to be a file, not a folder)


def declared_options() -> list[TransportOption]:
    """Every registered transport's options, each key once, in registration order."""
    seen: dict[str, TransportOption] = {}
    for transport in registered_transports():
        for option in transport.cli_options:
            seen.setdefault(option.key, option)
    return list(seen.values())
