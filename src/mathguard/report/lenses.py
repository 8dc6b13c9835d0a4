"""The lenses: one registry for finding ids, the audit's lens names and the scorecard's titles.

A finding's id starts with its lens (``linalg.exact-dependence``); the audit runs the lenses
marked ``audited`` (one scorecard row each, under ``title``), and its config names them the
same way. The other lenses only label findings: the linear-algebra checks inside the data
lens, training dynamics, the monitoring service and the guard, and the audit's notes on itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lens:
    name: str
    title: str
    audited: bool = False  # a lens of `mg.audit` (a scorecard row, a section, a JUnit test case)


REGISTRY: tuple[Lens, ...] = (
    Lens("data", "Linear algebra", audited=True),
    Lens("model", "Model", audited=True),
    Lens("stats", "Probability & statistics", audited=True),
    Lens("info", "Information theory", audited=True),
    Lens("adversarial", "Adversary", audited=True),
    Lens("certified", "Certified robustness", audited=True),
    Lens("detectors", "Detectors", audited=True),
    Lens("linalg", "Linear algebra"),
    Lens("calculus", "Calculus"),
    Lens("monitor", "Monitoring"),
    Lens("audit", "Audit"),
)
LENSES: tuple[str, ...] = tuple(lens.name for lens in REGISTRY)
AUDITED: tuple[str, ...] = tuple(lens.name for lens in REGISTRY if lens.audited)
TITLES: dict[str, str] = {lens.name: lens.title for lens in REGISTRY}
