"""The CLI reference (docs/cli.md), generated from the click commands themselves so it cannot drift from them:

    .venv/bin/python -m edgekit.cli.reference > docs/cli.md

tests/cli/test_reference.py checks that the committed page is what this prints."""
from __future__ import annotations

import click


def _sections(command: click.Command, path: list[str]) -> list[str]:
    # The CLI's own help names (-h, --help): click keeps the help option of a command's first context, so the page
    # must be made with the names every invocation uses, or it would depend on what ran before.
    ctx = click.Context(command, info_name=" ".join(path), terminal_width=100, max_content_width=100,
                        help_option_names=["-h", "--help"])
    lines = [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", "", "```text", command.get_help(ctx), "```", ""]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            lines += _sections(command.commands[name], [*path, name])
    return lines


def reference() -> str:
    from . import cli
    header = ["# edgekit command-line reference", "",
              "Generated from the commands by `python -m edgekit.cli.reference` (do not edit by hand). Exit codes "
              "and error messages: docs/errors.md.", ""]
    return "\n".join(header + _sections(cli, ["edgekit"]))


if __name__ == "__main__":
    print(reference(), end="")
