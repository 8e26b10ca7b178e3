"""docs/cli.md is the CLI's own help, regenerated: a command or option changed without the page fails here."""
from edgekit.cli.reference import reference
from tests.helpers import ROOT


def test_committed_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == reference(), \
        "docs/cli.md is stale: .venv/bin/python -m edgekit.cli.reference > docs/cli.md"


def test_reference_covers_every_command_and_option():
    page = reference()
    for heading in ("`edgekit bench`", "`edgekit compile`", "`edgekit targets prepare`"):
        assert heading in page
    assert "--max-latency-ms" in page and "--known-hosts" in page
