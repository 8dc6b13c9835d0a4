"""The drift report's two charts: a per-feature PSI bar chart and reference-vs-current distributions."""

from __future__ import annotations

import numpy as np

from mathguard.drift.measures import FeatureDrift
from mathguard.report import Figure, new_figure


def drift_figure(measured: list[FeatureDrift], drifted: set[str], thresholds) -> Figure:  # noqa: ANN001
    """PSI per feature (most drifted first, at most 30), drifted ones in red, with the two PSI thresholds."""
    return Figure.later(lambda: _draw_drift(measured, drifted, thresholds), "Drift per feature",
                        f"Population stability index per feature; dotted line {thresholds.psi_moderate} "
                        f"(moderate), dashed {thresholds.psi_major} (major); red bars are the features "
                        "judged drifted.")


def _draw_drift(measured: list[FeatureDrift], drifted: set[str], thresholds) -> object:  # noqa: ANN001
    top = sorted(measured, key=lambda d: -d.psi)[:30]
    fig = new_figure(8, 0.25 * len(top) + 1.2)
    ax = fig.subplots()
    y = np.arange(len(top))[::-1]
    ax.barh(y, [d.psi for d in top], color=["tab:red" if d.name in drifted else "tab:gray" for d in top])
    ax.set_yticks(y, [d.name for d in top], fontsize=7)
    for x, style in ((thresholds.psi_moderate, ":"), (thresholds.psi_major, "--")):
        ax.axvline(x, color="black", ls=style, lw=1)
    ax.set_xlabel("PSI (reference-quantile bins)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def distribution_figure(features: list[FeatureDrift]) -> Figure:
    """Share of rows per bin, reference next to current, for the most drifted features."""
    return Figure.later(lambda: _draw_distributions(features), "Most drifted features",
                        "Share of rows in each reference-quantile bin (numeric) or category, "
                        "reference against current.")


def _draw_distributions(features: list[FeatureDrift]) -> object:
    fig = new_figure(3.4 * len(features), 3.0)
    axes = fig.subplots(1, len(features), squeeze=False)
    for ax, d in zip(axes[0], features):
        x = np.arange(len(d.bins))
        ax.bar(x - 0.2, d.reference_share, 0.4, label="reference", color="tab:blue")
        ax.bar(x + 0.2, d.current_share, 0.4, label="current", color="tab:orange")
        ax.set_xticks(x, d.bins, rotation=60, ha="right", fontsize=6)
        ax.set_title(f"{d.name} (PSI {d.psi:.2f})", fontsize=9)
    axes[0][0].set_ylabel("share of rows")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
