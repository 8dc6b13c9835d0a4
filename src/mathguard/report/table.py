"""Tables in reports: the scorecard and any grid of numbers a reader compares across rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Table:
    """A titled grid; ``links`` names, per row, the section its first cell should link to (or None)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str = ""
    links: tuple[str | None, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if any(len(r) != len(self.columns) for r in self.rows):
            raise ValueError(f"table {self.title!r}: every row needs {len(self.columns)} cells")
        if self.links and len(self.links) != len(self.rows):
            raise ValueError(f"table {self.title!r}: one link (or None) per row")

    def to_dict(self) -> dict[str, Any]:
        from mathguard.report.jsonable import jsonable

        return {"title": self.title, "columns": list(self.columns), "rows": jsonable([list(r) for r in self.rows]),
                "caption": self.caption}
