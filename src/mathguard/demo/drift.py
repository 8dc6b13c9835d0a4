"""Demo section: a stored reference profile of the digits training data, then two production batches."""

from __future__ import annotations

import numpy as np
import torch

from mathguard.demo.context import DemoContext
from mathguard.drift.compare import compare
from mathguard.drift.profile import Profile, profile
from mathguard.report import Report


def _proba(ctx: DemoContext, flat: np.ndarray) -> np.ndarray:
    net = ctx.cnn
    with torch.no_grad():
        return torch.softmax(net(torch.as_tensor(flat.reshape(-1, 1, 8, 8))), dim=1).double().numpy()


def demo_section(ctx: DemoContext) -> Report:
    """Profile the training split with the CNN's predictions; compare a clean and a degraded test batch."""
    d = ctx.digits
    names = list(d.feature_names)
    ref = profile(d.X_train, _proba(ctx, d.X_train), feature_names=names)
    ref = Profile.from_dict(ref.to_dict())  # what the service would load from storage
    rng = np.random.default_rng(ctx.random_state)
    # A worn scanner: dimmer strokes plus sensor noise, clipped back to [0, 1].
    degraded = np.clip(0.7 * d.X_test + rng.normal(0.05, 0.12, d.X_test.shape), 0, 1).astype(np.float32)
    clean = compare(ref, d.X_test, _proba(ctx, d.X_test), feature_names=names, random_state=ctx.random_state)
    clean.title = "Clean test batch against the training profile"
    worn = compare(ref, degraded, _proba(ctx, degraded), feature_names=names, random_state=ctx.random_state)
    worn.title = "Degraded scanner batch against the training profile"
    report = Report(title="Information: drift against a stored reference profile",
                    summary=f"The training split ({ref.n_rows} rows, 64 pixel features, the CNN's probabilities) "
                            "is profiled once; each production batch is compared with that profile. "
                            f"Clean batch: {clean.metrics['verdict']}; degraded batch: {worn.metrics['verdict']}.")
    report.add_section(clean)
    report.add_section(worn)
    return report
