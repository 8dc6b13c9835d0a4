"""The Monitor's figure: per-layer gradient flow, loss and learning rate, drawn only when a report is written."""

from __future__ import annotations

from typing import Any

import numpy as np

from mathguard.report import Figure, new_figure


def training_figure(steps: list[int], grads: np.ndarray, names: list[str], loss: list[float],
                    lr: list[float]) -> Figure:
    """The curves as they stand now (copied: training may go on before the report is drawn)."""
    curves = (list(steps), grads.copy(), list(names), list(loss), list(lr))
    return Figure.later(lambda: _draw_training(*curves), "Gradient flow, loss and learning rate",
                        "Per-layer gradient norm over training (log scale; lines far below the "
                        "others are layers that stopped learning), the loss, and the learning rate "
                        "read from the optimizer at every step.")


def _draw_training(steps: list[int], grads: np.ndarray, names: list[str], loss: list[float],
                   lr: list[float]) -> Any:
    fig = new_figure(13, 3.6)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for j, name in enumerate(names):
        ax1.plot(steps, np.clip(grads[:, j], 1e-30, None), label=name, lw=1)
    ax1.set_yscale("log")
    ax1.set_ylabel("gradient norm")
    if len(names) <= 10:
        ax1.legend(fontsize=6)
    ax2.plot(steps, loss, color="tab:red")
    ax2.set_ylabel("loss")
    ax3.plot(steps, lr, color="tab:green")
    ax3.set_ylabel("learning rate")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
