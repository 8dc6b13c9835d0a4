"""Audit options: the template is the defaults, typos are errors, durations parse."""

import sys

import pytest

import mathguard as mg
from mathguard.auditor import TEMPLATE, AuditConfig, load_config
from mathguard.durations import parse_budget, parse_duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_the_template_states_the_defaults(tmp_path):
    path = tmp_path / "mathguard.toml"
    path.write_text(TEMPLATE)
    cfg = load_config(path)
    default = AuditConfig()
    assert cfg == default
    assert tomllib.loads(TEMPLATE)["audit"]["lenses"] == list(default.lenses)


@pytest.mark.parametrize("doc, message", [
    ({"audit": {"lensez": ["data"]}}, "unknown option audit.lensez"),
    ({"audit": {"lenses": ["data", "vibes"]}}, "unknown lens"),
    ({"adversarial": {"eps": [0.1, -1]}}, r"adversarial\.eps must be > 0"),
    ({"adversarial": {"points": 0}}, "adversarial.points must be an integer"),
    ({"audit": {"budget": "soon"}}, "not a duration"),
    ({"audit": {"fail_on": "severe"}}, "audit.fail_on must be 'never' or a severity"),
    ({"detectors": {"fpr": 1.5}}, "(0, 1)"),
    ({"adversarial": {"eps_unit": "furlong"}}, "adversarial.eps_unit must be one of 'auto', 'raw', 'std'"),
    ({"adversarial": {"min_robust_fraction": 2}}, r"adversarial\.min_robust_fraction must be in \[0, 1\]"),
])
def test_bad_options_are_named(doc, message):
    with pytest.raises(mg.MathguardError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(doc)


def test_durations():
    """#26: one grammar for the audit's budget, the --budget options and the service's windows."""
    assert parse_budget("90s") == 90 and parse_budget("10m") == 600 and parse_budget("1h30m") == 5400
    assert parse_budget("45") == 45 and parse_budget("0") is None and parse_budget(None) is None
    assert parse_duration("30d") == 30 * 86400 and parse_duration("1d12h") == 1.5 * 86400
    assert parse_duration("1.5m") == 90 and parse_duration("0s", allow_zero=True) == 0
    for bad in ("-5m", "5x", "m", "1h 30", "", "inf", True):
        with pytest.raises(mg.InputError, match="duration"):
            parse_duration(bad)
    with pytest.raises(mg.InputError, match="whole"):
        parse_duration("1.5s", whole=True)
    with pytest.raises(mg.InputError, match="at most"):
        parse_duration("2d", maximum=86400)
    from mathguard.monitor.config import parse_duration as service_duration

    assert service_duration("1h30m") == 5400 and isinstance(service_duration("90"), int)


def test_invalid_toml_is_one_line(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text("[audit\nlenses = ")
    with pytest.raises(mg.InputError, match="not valid TOML"):
        load_config(bad)
