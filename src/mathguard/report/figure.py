"""Figures embedded in reports: rendered once to PNG so HTML stays self-contained."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # reports are written headless; never open a window
import matplotlib.pyplot as plt  # noqa: E402


@dataclass(frozen=True)
class Figure:
    """A titled PNG image with a caption that says how to read it."""

    title: str
    png: bytes
    caption: str = ""

    @classmethod
    def from_matplotlib(cls, fig: Any, title: str, caption: str = "", dpi: int = 100) -> "Figure":
        """Render a matplotlib figure to PNG and close it (so long runs do not leak figures)."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return cls(title=title, png=buf.getvalue(), caption=caption)

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def new_axes(width: float = 6.4, height: float = 4.0) -> tuple[Any, Any]:
    """A fresh (figure, axes) pair with the house style."""
    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(True, alpha=0.3)
    return fig, ax
