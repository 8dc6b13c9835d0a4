"""Figures embedded in reports: rendered once to PNG so HTML stays self-contained."""

from __future__ import annotations

import base64
import io
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")  # reports are written headless; never open a window
import matplotlib.pyplot as plt  # noqa: E402


class Figure:
    """A titled PNG image with a caption that says how to read it.

    Made with :meth:`later`, the chart is drawn only when its PNG is first asked for (a
    report written or shown), so a report used only for its numbers costs no plotting.
    """

    def __init__(self, title: str, png: bytes | None = None, caption: str = "", *,
                 draw: Callable[[], Any] | None = None, dpi: int = 100) -> None:
        if (png is None) == (draw is None):
            raise ValueError("give a figure either its png or a draw() returning a matplotlib figure")
        self.title, self.caption = title, caption
        self._png, self._draw, self._dpi = png, draw, dpi

    @classmethod
    def from_matplotlib(cls, fig: Any, title: str, caption: str = "", dpi: int = 100) -> "Figure":
        """Render a matplotlib figure to PNG now and close it (so long runs do not leak figures)."""
        return cls(title=title, png=_png(fig, dpi), caption=caption)

    @classmethod
    def later(cls, draw: Callable[[], Any], title: str, caption: str = "", dpi: int = 100) -> "Figure":
        """A figure drawn by ``draw()`` (returning a matplotlib figure) the first time its PNG is needed."""
        return cls(title=title, caption=caption, draw=draw, dpi=dpi)

    @property
    def png(self) -> bytes:
        if self._png is None:
            self._png = _png(self._draw(), self._dpi)
            self._draw = None
        return self._png

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def __repr__(self) -> str:
        return f"Figure({self.title!r}{', not drawn yet' if self._png is None else ''})"


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def new_axes(width: float = 6.4, height: float = 4.0) -> tuple[Any, Any]:
    """A fresh (figure, axes) pair with the house style."""
    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(True, alpha=0.3)
    return fig, ax
