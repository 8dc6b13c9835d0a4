"""Demo section: an honest evaluation of the digits CNN, and the same evaluation catching a masked defense."""

from __future__ import annotations

import torch
from torch import nn

from mathguard.demo.context import DemoContext
from mathguard.models import wrap
from mathguard.report import Report
from mathguard.robustness.evaluate import evaluate_robustness


class _Quantize(nn.Module):
    """A 'defense' that rounds inputs to 4 levels: it zeroes gradients, not adversarial examples."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 3) / 3


def demo_section(ctx: DemoContext) -> Report:
    n = 60 if ctx.quick else 150
    steps = 20 if ctx.quick else 50
    x = torch.tensor(ctx.digits_images[1][:n])
    y = ctx.digits.y_test[:n]
    eps = [0.02, 0.05, 0.1, 0.2]
    report = Report(title="Robustness evaluation and its pitfall checks",
                    summary="Attack ensemble (APGD-CE → APGD-T → Square, FGSM cross-check) on the digits CNN, then the "
                            "same evaluation on a planted input-quantisation 'defense' that only masks gradients.")
    healthy = evaluate_robustness(ctx.classifier, x, y, eps=eps, steps=steps)
    healthy.title = "Digits CNN"
    report.add_section(healthy)
    masked = wrap(nn.Sequential(_Quantize(), ctx.cnn).eval(), input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    planted = evaluate_robustness(masked, x, y, eps=eps, steps=steps)
    planted.title = "Planted example: input quantisation (gradient masking)"
    report.add_section(planted)
    report.metrics["robust_accuracy"] = healthy.metrics["robust_accuracy"]
    report.metrics["masked_model_reported_robust_accuracy"] = planted.metrics["robust_accuracy"]
    return report
