"""Every command that writes a report spells --html, --json and -q/--quiet alike (one decorator)."""

import pytest
from click.testing import CliRunner

from mathguard.cli import main

REPORTING = ["audit-data", "calibration", "compare", "drift", "certify", "detect", "robustness", "guard"]


@pytest.mark.parametrize("command", REPORTING)
def test_report_options_are_listed_in_help(command):
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0, res.output
    for text in ("--html FILE", "Write the self-contained HTML report here.", "--json FILE",
                 "Write the JSON report here.", "-q, --quiet"):
        assert text in res.output, (command, text)


def test_audit_takes_the_same_quiet_flag():
    assert "-q, --quiet" in CliRunner().invoke(main, ["audit", "--help"]).output
