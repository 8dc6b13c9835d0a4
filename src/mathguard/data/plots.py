"""Figures of the data audit: scree plot with cumulative curve, correlation matrix with VIF bars."""

from __future__ import annotations

import numpy as np

from mathguard.data.analysis import Analysis
from mathguard.report import Figure, new_axes


def scree(a: Analysis, max_components: int = 50) -> Figure:
    ratio = a.explained_variance_ratio[:max_components]
    k = np.arange(1, ratio.size + 1)
    fig, ax = new_axes()
    ax.bar(k, ratio, color="#4c78a8", label="explained variance ratio")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.set_ylim(0, 1.02)
    ax2 = ax.twinx()
    ax2.plot(k, np.cumsum(ratio), color="#d0510f", marker=".", label="cumulative")
    std = a.explained_variance_ratio_std[:max_components]
    ax2.plot(np.arange(1, std.size + 1), np.cumsum(std), color="#2f7d32", ls="--", label="cumulative (standardised)")
    for lvl in (0.9, 0.95, 0.99):
        ax2.axhline(lvl, color="grey", lw=0.6, ls=":")
    ax2.set_ylim(0, 1.02)
    ax2.set_ylabel("cumulative")
    ax2.legend(loc="center right", fontsize=8)
    c = a.components
    return Figure.from_matplotlib(fig, "Scree plot", f"Bars: variance share of each principal component of the "
                                  f"centred data; lines: cumulative share (raw and standardised). "
                                  f"{c[90]}/{c[95]}/{c[99]} components reach 90/95/99 %.")


def correlation_vif(a: Analysis, max_columns: int = 40) -> Figure:
    """Correlation heat map of the highest-VIF columns, with their VIF on a log axis beside it."""
    vif = np.where(np.isfinite(a.vif), a.vif, np.nan)
    order = np.argsort(-np.nan_to_num(vif, nan=np.inf))[:max_columns]
    order = np.sort(order)
    names = [a.names[j] for j in order]
    fig, _ = new_axes(10, 5)
    fig.clf()  # two panels of different widths instead of the single default axes
    ax = fig.add_axes([0.05, 0.25, 0.45, 0.7])
    bx = fig.add_axes([0.74, 0.25, 0.25, 0.7])
    im = ax.imshow(np.nan_to_num(a.correlation[np.ix_(order, order)]), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ticks = np.arange(len(order))
    ax.set_xticks(ticks, names, rotation=90, fontsize=6)
    ax.set_yticks(ticks, names, fontsize=6)
    shown = np.where(np.isfinite(a.vif[order]), a.vif[order], np.nan)
    top = np.nanmax(shown) if np.isfinite(shown).any() else 10.0
    bars = np.where(np.isnan(shown), top * 10, shown)
    colors = ["#b00020" if not np.isfinite(a.vif[j]) else "#d0510f" if a.vif[j] >= 10 else "#4c78a8" for j in order]
    bx.barh(ticks, bars, color=colors)
    bx.set_xscale("log")
    bx.axvline(10, color="grey", ls=":")
    bx.set_yticks(ticks, names, fontsize=6)
    bx.invert_yaxis()
    bx.set_xlabel("VIF (red = ∞, exact dependence)")
    return Figure.from_matplotlib(fig, "Correlation and VIF", "Left: Pearson correlation of the columns (the "
                                  f"{len(order)} with the largest VIF). Right: variance inflation factor; the dotted "
                                  "line marks VIF = 10.")
