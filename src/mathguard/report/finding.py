"""The one result type every check returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from mathguard.report.lenses import LENSES


class Severity(IntEnum):
    """Ordered severities. "Warning level" means MEDIUM or above."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: "str | int | Severity") -> "Severity":
        """Accept 'high', 'HIGH', 3 or Severity.HIGH; raise a clear error otherwise."""
        from mathguard.errors import MathguardError

        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise MathguardError(f"unknown severity {value!r}; choose one of: {names}") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """One observation about data or a model, with the numbers behind it and what to do.

    ``id`` is stable across versions (e.g. ``linalg.exact-dependence``) so users can
    filter or suppress findings by id; it starts with its lens (``Finding.of`` writes it so);
    ``evidence`` holds JSON-serialisable numbers.
    """

    id: str
    lens: str
    severity: Severity
    title: str
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""

    def __post_init__(self) -> None:
        if self.lens not in LENSES:
            raise ValueError(f"unknown lens {self.lens!r}; expected one of {LENSES}")
        if not self.id.startswith(self.lens + "."):
            raise ValueError(f"finding id {self.id!r} must start with its lens, {self.lens!r}.")
        object.__setattr__(self, "severity", Severity.parse(self.severity))

    @classmethod
    def of(cls, lens: str, name: str, severity: "str | Severity", title: str, **rest: Any) -> "Finding":
        """``Finding.of("linalg", "exact-dependence", ...)`` is the finding ``linalg.exact-dependence``."""
        return cls(id=f"{lens}.{name}", lens=lens, severity=severity, title=title, **rest)

    def to_dict(self) -> dict[str, Any]:
        from mathguard.report.jsonable import jsonable

        return {
            "id": self.id,
            "lens": self.lens,
            "severity": str(self.severity),
            "title": self.title,
            "detail": self.detail,
            "evidence": jsonable(self.evidence),
            "fix": self.fix,
        }
