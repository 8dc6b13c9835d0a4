"""Figures embedded in reports: drawn once, on demand, to PNG so HTML stays self-contained.

Charts use matplotlib's object-oriented API (no pyplot): no backend is selected, so a user's
notebook keeps its inline plots, no window ever opens, and no global figure registry fills up.
matplotlib itself is imported only when a figure is first rendered.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable

from mathguard.params import POSITIVE, declare


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
    def later(cls, draw: Callable[[], Any], title: str, caption: str = "", dpi: int = 100) -> "Figure":
        """A figure drawn by ``draw()`` (returning a matplotlib figure) the first time its PNG is needed."""
        return cls(title=title, caption=caption, draw=draw, dpi=dpi)

    @property
    def png(self) -> bytes:
        """The PNG bytes; drawing happens here, once, and the draw closure (and its data) is then dropped."""
        if self._png is None:
            assert self._draw is not None
            self._png = _png(self._draw(), self._dpi)
            self._draw = None
        return self._png

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def __repr__(self) -> str:
        return f"Figure({self.title!r}{', not drawn yet' if self._png is None else ''})"


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


@declare(width=POSITIVE, height=POSITIVE)
def new_figure(width: float = 6.4, height: float = 4.0) -> Any:
    """A matplotlib figure not registered with pyplot: freed with its last reference, backend untouched."""
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=(width, height))


@declare(width=POSITIVE, height=POSITIVE)
def new_axes(width: float = 6.4, height: float = 4.0) -> tuple[Any, Any]:
    """A fresh (figure, axes) pair with the house style."""
    fig = new_figure(width, height)
    ax = fig.subplots()
    ax.grid(True, alpha=0.3)
    return fig, ax
