"""Figures of the data audit: scree plot with cumulative curve, correlation matrix with VIF bars.

Each figure keeps only the few numbers its chart needs and is drawn when the report is rendered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mathguard.data.analysis import Analysis
from mathguard.report import Figure, new_axes, new_figure


def scree(a: Analysis, max_components: int = 50) -> Figure:
    ratio = a.explained_variance_ratio[:max_components].copy()
    std = a.explained_variance_ratio_std[:max_components].copy()
    c = a.components
    return Figure.later(lambda: _draw_scree(ratio, std), "Scree plot",
                        "Bars: variance share of each principal component of the centred data; lines: cumulative "
                        f"share (raw and standardised). {c[90]}/{c[95]}/{c[99]} components reach 90/95/99 %.")


def _draw_scree(ratio: np.ndarray, std: np.ndarray) -> Any:
    k = np.arange(1, ratio.size + 1)
    fig, ax = new_axes()
    ax.bar(k, ratio, color="#4c78a8", label="explained variance ratio")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.set_ylim(0, 1.02)
    ax2 = ax.twinx()
    ax2.plot(k, np.cumsum(ratio), color="#d0510f", marker=".", label="cumulative")
    ax2.plot(np.arange(1, std.size + 1), np.cumsum(std), color="#2f7d32", ls="--", label="cumulative (standardised)")
    for lvl in (0.9, 0.95, 0.99):
        ax2.axhline(lvl, color="grey", lw=0.6, ls=":")
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("cumulative")
    ax2.legend(loc="center right", fontsize=8)
    return fig


def correlation_vif(a: Analysis, max_columns: int = 40) -> Figure:
    """Correlation heat map of the highest-VIF columns, with their VIF on a log axis beside it."""
    vif = np.where(np.isfinite(a.vif), a.vif, np.nan)
    order = np.sort(np.argsort(-np.nan_to_num(vif, nan=np.inf))[:max_columns])
    names = [a.names[j] for j in order]
    corr = np.nan_to_num(a.correlation[np.ix_(order, order)])
    return Figure.later(lambda: _draw_correlation_vif(names, corr, a.vif[order]), "Correlation and VIF",
                        f"Left: Pearson correlation of the columns (the {len(order)} with the largest VIF). "
                        "Right: variance inflation factor; the dotted line marks VIF = 10.")


def _draw_correlation_vif(names: list[str], corr: np.ndarray, vif: np.ndarray) -> Any:
    fig = new_figure(10, 5)  # two panels of different widths
    ax = fig.add_axes([0.05, 0.25, 0.45, 0.7])
    bx = fig.add_axes([0.74, 0.25, 0.25, 0.7])
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, rotation=90, fontsize=6)
    ax.set_yticks(ticks, names, fontsize=6)
    shown = np.where(np.isfinite(vif), vif, np.nan)
    top = np.nanmax(shown) if np.isfinite(shown).any() else 10.0
    bars = np.where(np.isnan(shown), top * 10, shown)
    colors = ["#b00020" if not np.isfinite(v) else "#d0510f" if v >= 10 else "#4c78a8" for v in vif]
    bx.barh(ticks, bars, color=colors)
    bx.set_xscale("log")
    bx.axvline(10, color="grey", ls=":")
    bx.set_yticks(ticks, names, fontsize=6)
    bx.invert_yaxis()
    bx.set_xlabel("VIF (red = ∞, exact dependence)")
    return fig
