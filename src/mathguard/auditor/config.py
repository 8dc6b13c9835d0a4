"""Audit options: defaults, `mathguard.toml`, and the commented template `mathguard init` writes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from mathguard.durations import parse_budget
from mathguard.errors import InputError, MathguardError
from mathguard.params import (COUNT, INT_SEED, NORM, OPEN_UNIT, POSITIVE, UNIT, Budgets, Check, Choice, Optional,
                              declare_fields)
from mathguard.report import Severity
from mathguard.report.lenses import AUDITED

EPS_UNITS = ("auto", "raw", "std")
LENSES = AUDITED  # the audit runs the registry's audited lenses, named as there

TEMPLATE = """\
# mathguard.toml: options for `mathguard audit` and `mg.audit(...)`. Every key is optional;
# a missing key keeps the default shown here. Lines starting with # are comments.

[audit]
# Lenses to run, when they apply to the model and data given (a lens that cannot apply says why).
lenses = ["data", "model", "stats", "info", "adversarial", "certified", "detectors"]
fail_on = "high"        # exit 1 when a finding at or above this severity is present ("never" to disable)
budget = "10m"          # wall-clock budget: points, steps and noise draws are scaled to fit ("0" = no budget)
random_state = 0

[stats]
alpha = 0.05            # 1 - confidence of the accuracy interval and the significance tests

[adversarial]
norm = "linf"           # "linf" or "l2"
# Budgets, in the unit below. Images in [0, 1] (raw units): 0.03 and 0.1 are common.
eps = [0.03, 0.1]
# "raw": input units. "std": each feature's training standard deviation (0.1 moves every feature by
# at most a tenth of its own spread; tabular features have no common raw scale). "auto": std for
# tabular models without input bounds, raw otherwise.
eps_unit = "auto"
# Pass rule of the adversarial and certified lenses: robust accuracy at the largest eps must be at
# least this fraction of clean accuracy (the certified lens: its attacked upper bound too).
min_robust_fraction = 0.5
points = 500            # test points attacked at most (the budget may lower it)
steps = 100             # iterations of each gradient attack (the budget may lower it)

[certified]
points = 200            # test points certified at most

[detectors]
names = ["max-softmax", "energy", "mahalanobis"]
fpr = 0.05              # promised false-alarm rate of each detector
"""


def _check_fail_on(value: Any, name: str) -> None:
    if value == "never":
        return
    try:
        Severity.parse(value)
    except MathguardError:
        raise InputError(f"{name} must be 'never' or a severity ({', '.join(s.name.lower() for s in Severity)}), "
                         f"got {value!r}") from None


@declare_fields(fail_on=Check(_check_fail_on, good="high", bad=("severe", None)), budget=Optional(POSITIVE),
                random_state=INT_SEED, alpha=OPEN_UNIT, norm=NORM, eps=Budgets(positive=True),
                eps_unit=Choice(EPS_UNITS), min_robust_fraction=UNIT, points=COUNT, steps=COUNT,
                certified_points=COUNT, fpr=OPEN_UNIT)
@dataclass(frozen=True)
class AuditConfig:
    """Every option of the audit, with the defaults of :data:`TEMPLATE`."""

    lenses: tuple[str, ...] = LENSES
    fail_on: str = "high"
    budget: float | None = 600.0  # seconds; None = unlimited
    random_state: int = 0
    alpha: float = 0.05
    norm: str = "linf"
    eps: tuple[float, ...] = (0.03, 0.1)
    eps_unit: str = "auto"
    min_robust_fraction: float = 0.5
    points: int = 500
    steps: int = 100
    certified_points: int = 200
    detectors: tuple[str, ...] = ("max-softmax", "energy", "mahalanobis")
    fpr: float = 0.05

    def __post_init__(self) -> None:
        unknown = [lens for lens in self.lenses if lens not in LENSES]
        if unknown:
            raise InputError(f"unknown lens(es) {unknown}; choose from {', '.join(LENSES)}")


_KEYS = {  # (toml table, key) → config field
    ("audit", "lenses"): "lenses", ("audit", "fail_on"): "fail_on", ("audit", "budget"): "budget",
    ("audit", "random_state"): "random_state", ("stats", "alpha"): "alpha", ("adversarial", "norm"): "norm",
    ("adversarial", "eps"): "eps", ("adversarial", "eps_unit"): "eps_unit",
    ("adversarial", "min_robust_fraction"): "min_robust_fraction", ("adversarial", "points"): "points", ("adversarial", "steps"): "steps",
    ("certified", "points"): "certified_points", ("detectors", "names"): "detectors", ("detectors", "fpr"): "fpr",
}


_TOML_NAMES = {name: f"{table}.{key}" for (table, key), name in _KEYS.items()}


def from_mapping(doc: Mapping[str, Any]) -> AuditConfig:
    """A config from a parsed TOML document; unknown tables or keys are errors (a typo must not be ignored)."""
    values: dict[str, Any] = {}
    for table, body in doc.items():
        if not isinstance(body, Mapping):
            raise InputError(f"mathguard.toml: {table!r} must be a table like [{table}]")
        for key, value in body.items():
            if (table, key) not in _KEYS:
                known = ", ".join(f"{t}.{k}" for t, k in _KEYS)
                raise InputError(f"mathguard.toml: unknown option {table}.{key}; known: {known}")
            values[_KEYS[(table, key)]] = value
    if "budget" in values:
        values["budget"] = parse_budget(values["budget"])
    for name in ("lenses", "detectors", "eps"):
        if name in values:
            if not isinstance(values[name], (list, tuple)):
                raise InputError(f"mathguard.toml: {name} must be a list")
            values[name] = tuple(values[name])
    try:
        return AuditConfig(**values)
    except InputError as exc:  # the option as the file spells it: "adversarial.eps must ...", not "eps must ..."
        field, _, rest = str(exc).partition(" ")
        raise InputError(f"mathguard.toml: {_TOML_NAMES.get(field, field)} {rest}") from None


def load_config(config: "str | os.PathLike[str] | Mapping[str, Any] | AuditConfig | None") -> AuditConfig:
    """The audit options from a path to a TOML file, a mapping shaped like it, a config, or None (defaults)."""
    if config is None:
        return AuditConfig()
    if isinstance(config, AuditConfig):
        return config
    if isinstance(config, Mapping):
        return from_mapping(config)
    path = Path(config)
    if not path.is_file():
        raise InputError(f"config file not found: {config}")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} is not valid TOML: {str(exc).splitlines()[0]}") from None
    return from_mapping(doc)


def with_overrides(config: AuditConfig, **overrides: Any) -> AuditConfig:
    """The config with the options given on the command line (None = keep)."""
    chosen = {k: v for k, v in overrides.items() if v is not None}
    known = {f.name for f in fields(AuditConfig)}
    bad = set(chosen) - known
    if bad:
        raise InputError(f"unknown audit option(s) {sorted(bad)}")
    if "budget" in chosen:  # 0 or "0" means no budget, as in mathguard.toml ("10m" and 90 work too)
        chosen["budget"] = parse_budget(chosen["budget"])
    return replace(config, **chosen)
