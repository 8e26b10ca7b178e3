"""Option checks shared by commands: a value found wrong before anything starts is a usage error (exit 2)."""
from __future__ import annotations

from typing import Any, Callable

import click

from ..errors import InputError


def usage_check(check: Callable[[Any], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback running `check` on an option's value: an InputError it raises is a usage error (exit 2),
    found before anything starts."""
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return value
        try:
            checked = check(value)
        except InputError as exc:
            raise click.BadParameter(exc.one_line(), ctx=ctx, param=param) from None
        return value if checked is None else checked
    return callback


def _checked_coordinator(value: str) -> str:
    from ..farm import checked_coordinator
    return checked_coordinator(value)


coordinator_option = click.option(
    "--coordinator", callback=usage_check(_checked_coordinator),
    help="labgrid coordinator HOST:PORT (default: $LG_COORDINATOR, else 127.0.0.1:20408)")
