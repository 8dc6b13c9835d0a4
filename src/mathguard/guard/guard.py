"""The guard: validate → detect → predict or abstain → fall back → log, one row at a time in effect.

Every row of a batch gets its own decision and its reasons; nothing a row contains can
fail the batch. The model and every detector share one forward pass over the rows that
passed validation; a detector flags a row when its conformal p-value is at most its
calibrated fpr, an ensemble when its members disagree too much. Refused rows go to the
fallback (a simpler model, a rule, a human queue); a fallback that raises or answers
nonsense is caught and reported, and those rows stay abstained.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mathguard.detect.base import Detector, batches, shared_forward, unique_names
from mathguard.detect.forward import eval_mode, forward
from mathguard.drift.profile import Profile
from mathguard.errors import InputError, MathguardError
from mathguard.guard.rows import RowValidator
from mathguard.models.base import Classifier
from mathguard.models.wrap import wrap
from mathguard.report import Finding, Report, Severity
from mathguard.validate import finite

ABSTAIN = -1


@dataclass
class GuardDecision:
    """Per row: the answer, where it came from, and why the model's answer was refused.

    ``labels`` is −1 where nobody answered; ``proba`` holds NaN there. ``source`` is
    "model", "fallback" or "abstain"; ``layer`` names the layer that refused ("" when the
    model answered): "validation", "detector", "ensemble" or "model".
    """

    labels: np.ndarray
    proba: np.ndarray
    abstained: np.ndarray
    source: np.ndarray
    layer: list[str]
    reasons: list[list[str]]
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    p_values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def accepted(self) -> np.ndarray:
        return ~self.abstained


@dataclass
class _Tally:
    rows: int = 0
    refused: Counter = field(default_factory=Counter)  # layer or detector → rows
    fallback_answered: int = 0
    fallback_failed: int = 0
    labelled_accepted: int = 0
    correct_accepted: int = 0
    labelled_valid: int = 0  # readable labelled rows: what the bare model would have answered
    correct_unguarded: int = 0
    monitor_errors: list[str] = field(default_factory=list)


class Guard:
    """Wrap a classifier for production: validation from the training profile, detectors, abstention, fallback.

    ``detectors`` must be calibrated and watch the model that predicts (``ensemble`` when
    given, else ``clf``). ``fallback`` is "abstain" or a callable taking the refused rows
    (as given) and returning labels (m,) or probabilities (m, K). ``monitor`` is an
    ``mg.monitor.Client``: every accepted row is logged with the detectors' alarms.
    """

    def __init__(self, clf: Any, *, profile: Profile | None = None, detectors: Sequence[Detector] = (),
                 ensemble: Any = None, fallback: "str | Callable[[Any], Any]" = "abstain", monitor: Any = None,
                 tolerance: float = 0.1, max_disagreement: float = 0.5) -> None:
        self.model: Classifier = ensemble if ensemble is not None else (
            clf if isinstance(clf, Classifier) else wrap(clf))
        self.detectors = list(detectors)
        for d in self.detectors:
            if not isinstance(d, Detector):
                raise InputError(f"detectors must be mg.detect detectors, got {type(d).__name__}")
            d._check_calibrated()
            if d.clf is not self.model:
                raise InputError(f"detector {d.name} watches another classifier than the one the guard predicts "
                                 "with; build it on the same object so they share one forward pass")
        if not (fallback == "abstain" or callable(fallback)):
            raise InputError("fallback must be 'abstain' or a callable taking the refused rows")
        finite(max_disagreement, "max_disagreement", low=0, high=1)
        self.fallback, self.monitor, self.max_disagreement = fallback, monitor, float(max_disagreement)
        self.members = list(getattr(ensemble, "members", [])) if ensemble is not None else []
        self.names = unique_names(self.detectors)
        self.validator = RowValidator(math.prod(self.model.input_shape), profile, tolerance)
        self._tally = _Tally()

    # ------------------------------------------------------------------ deciding
    def predict(self, x: Any, y: Any = None) -> GuardDecision:
        """Decide every row of ``x``; labels ``y`` (optional) feed the accuracy figures of :meth:`report`."""
        rows = self.validator(x)
        n, k = len(rows.values), self.model.n_classes
        model_proba = np.full((n, k), np.nan)  # the bare model's answer where it gave one
        layer = ["validation" if not v else "" for v in rows.valid]
        reasons = [list(r) for r in rows.reasons]
        scores = {name: np.full(n, np.nan) for name in self.names}
        pvals = {name: np.full(n, np.nan) for name in self.names}
        idx = np.flatnonzero(rows.valid)
        if len(idx):
            xt = torch.as_tensor(rows.values[idx], dtype=torch.float32).view(len(idx), *self.model.input_shape)
            try:
                p_model, det_scores, disagreement = self._forward(xt)
            except (MathguardError, RuntimeError) as exc:  # a broken model refuses the rows, it does not crash
                for i in idx:
                    layer[i], reasons[i] = "model", [f"model failed: {str(exc).splitlines()[0]}"]
            else:
                model_proba[idx] = p_model
                self._judge(idx, det_scores, disagreement, scores, pvals, layer, reasons)
        abstained = np.array([bool(lay) for lay in layer])
        proba = np.where(abstained[:, None], np.nan, model_proba)
        labels = np.where(abstained, ABSTAIN, np.nan_to_num(proba).argmax(axis=1))
        source = np.where(abstained, "abstain", "model").astype(object)
        if abstained.any() and self.fallback != "abstain":
            self._fall_back(x, np.flatnonzero(abstained), labels, proba, source, reasons)
        decision = GuardDecision(labels.astype(np.int64), proba, abstained, source, layer, reasons, scores, pvals)
        if y is not None or self.monitor is not None:
            self._bare_answers(model_proba, rows.values)
        self._record(decision, model_proba, rows.values, y)
        return decision

    def predict_proba(self, x: Any) -> np.ndarray:
        """(N, K) probabilities with the fallback applied; NaN rows where the guard abstained without one."""
        return self.predict(x).proba

    def _forward(self, xt: torch.Tensor) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
        """Probabilities, detector scores and ensemble disagreement from one pass per batch."""
        probs, det_scores, disagree = [], [[] for _ in self.detectors], []
        with torch.no_grad(), eval_mode(self.model):
            for sl in batches(len(xt)):
                if self.detectors:
                    logits, s = shared_forward(self.detectors, xt[sl])
                    for acc, v in zip(det_scores, s):
                        acc.append(v.double().cpu().numpy())
                else:
                    logits = forward(self.model, xt[sl]).logits
                probs.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
                if self.members:
                    votes = torch.stack([m.logits(xt[sl]).argmax(1) for m in self.members])
                    share = torch.nn.functional.one_hot(votes, self.model.n_classes).sum(0).amax(1)
                    disagree.append((1 - share.double() / len(self.members)).cpu().numpy())
        return (np.concatenate(probs), [np.concatenate(s) for s in det_scores],
                np.concatenate(disagree) if self.members else None)

    def _bare_answers(self, model_proba: np.ndarray, values: np.ndarray) -> None:
        """Fill in what the bare model says on readable rows that validation refused.

        The unguarded accuracy and the monitoring service (drift is measured on every
        readable row, refused or not) need the model's answer there; it costs a pass over
        those rows only.
        """
        extra = np.flatnonzero(np.isfinite(values).all(axis=1) & np.isnan(model_proba).any(axis=1))
        if not len(extra):
            return
        xt = torch.as_tensor(values[extra], dtype=torch.float32).view(len(extra), *self.model.input_shape)
        try:
            with torch.no_grad(), eval_mode(self.model):
                model_proba[extra] = torch.softmax(forward(self.model, xt).logits.double(), 1).cpu().numpy()
        except (MathguardError, RuntimeError):
            pass  # a model that fails on them leaves them unanswered

    def _judge(self, idx: np.ndarray, det_scores: list[np.ndarray], disagreement: np.ndarray | None,
               scores: dict[str, np.ndarray], pvals: dict[str, np.ndarray], layer: list[str],
               reasons: list[list[str]]) -> None:
        for name, d, s in zip(self.names, self.detectors, det_scores):
            p = d.p_values_of(s)
            scores[name][idx], pvals[name][idx] = s, p
            for i, pi in zip(idx[d.flag(s)], p[d.flag(s)]):
                layer[i] = layer[i] or "detector"
                reasons[i].append(f"{name} p={pi:.3g} ≤ {d.fpr:g}")
        if disagreement is not None:
            for i, dis in zip(idx, disagreement):
                if dis > self.max_disagreement:
                    layer[i] = layer[i] or "ensemble"
                    reasons[i].append(f"ensemble disagreement {dis:.2f} > {self.max_disagreement:g}")

    def _fall_back(self, x: Any, idx: np.ndarray, labels: np.ndarray, proba: np.ndarray, source: np.ndarray,
                   reasons: list[list[str]]) -> None:
        try:
            answer = _checked_fallback(self.fallback(_take(x, idx)), len(idx), self.model.n_classes)
        except Exception as exc:  # noqa: BLE001 — graceful degradation: any failure leaves the rows abstained
            self._tally.fallback_failed += len(idx)
            for i in idx:
                reasons[i].append(f"fallback failed: {type(exc).__name__}: {exc}".splitlines()[0])
            return
        proba[idx] = answer
        labels[idx] = answer.argmax(axis=1)
        source[idx] = "fallback"
        self._tally.fallback_answered += len(idx)

    # ------------------------------------------------------------------ records
    def _record(self, dec: GuardDecision, model_proba: np.ndarray, values: np.ndarray, y: Any) -> None:
        t = self._tally
        t.rows += len(dec.labels)
        for lay, why in zip(dec.layer, dec.reasons):
            if lay:
                t.refused[lay] += 1
            for name in {r.split(" p=")[0] for r in why if " p=" in r}:
                t.refused[f"detector {name}"] += 1
        answered = ~np.isnan(model_proba).any(axis=1)  # rows the bare model answered
        yt = None
        if y is not None:
            yt = np.asarray(y).reshape(-1)
            if len(yt) != len(dec.labels):
                raise InputError(f"y has {len(yt)} labels for {len(dec.labels)} rows")
            pred = np.nan_to_num(model_proba).argmax(axis=1)
            t.labelled_accepted += int(dec.accepted.sum())
            t.correct_accepted += int((pred == yt)[dec.accepted].sum())
            t.labelled_valid += int(answered.sum())
            t.correct_unguarded += int((pred == yt)[answered].sum())
        if self.monitor is not None and answered.any():
            rows = np.flatnonzero(answered)
            try:
                self.monitor.log(values[rows], model_proba[rows], labels=None if yt is None else yt[rows],
                                 alarms=dec.abstained[rows])
            except Exception as exc:  # noqa: BLE001 — logging must never cost a prediction
                t.monitor_errors.append(f"{type(exc).__name__}: {exc}")

    def report(self) -> Report:
        """What the guard decided so far: abstention per layer and detector, accepted accuracy, failures."""
        t = self._tally
        rep = Report(title="Guard", summary=f"{t.rows} rows decided.")
        if t.rows == 0:
            rep.add(Finding(id="monitor.insufficient-data", lens="monitor", severity=Severity.INFO,
                            title="the guard has decided no rows yet"))
            return rep
        refused = sum(v for key, v in t.refused.items() if not key.startswith("detector "))
        rep.metrics.update({
            "rows": t.rows, "abstention_rate": refused / t.rows,
            "abstention_by_layer": {k: v / t.rows for k, v in t.refused.items()},
            "fallback_answered": t.fallback_answered, "fallback_failed": t.fallback_failed,
            "accepted_accuracy": t.correct_accepted / t.labelled_accepted if t.labelled_accepted else None,
            "unguarded_accuracy": t.correct_unguarded / t.labelled_valid if t.labelled_valid else None,
            "labelled_accepted": t.labelled_accepted, "monitor_errors": len(t.monitor_errors),
        })
        if t.fallback_failed:
            rep.add(Finding(id="monitor.fallback-failed", lens="monitor", severity=Severity.HIGH,
                            title=f"the fallback failed on {t.fallback_failed} refused rows; they stayed abstained",
                            fix="Make the fallback total: it must answer every row it is given."))
        if t.monitor_errors:
            rep.add(Finding(id="monitor.logging-failed", lens="monitor", severity=Severity.MEDIUM,
                            title=f"{len(t.monitor_errors)} logging calls to the monitoring service failed",
                            detail=t.monitor_errors[-1]))
        return rep


def _take(x: Any, idx: np.ndarray) -> Any:
    """The rows ``idx`` of a batch, in the form it was given."""
    import pandas as pd

    if isinstance(x, pd.DataFrame):
        return x.iloc[idx]
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return x[idx] if x.ndim > 1 else x[None][idx]
    rows = list(x)
    return [rows[i] for i in idx]


def _checked_fallback(answer: Any, m: int, k: int) -> np.ndarray:
    """A fallback's labels (m,) or probabilities (m, K) as validated (m, K) probabilities."""
    a = np.asarray(answer.detach().cpu().numpy() if isinstance(answer, torch.Tensor) else answer)
    if a.shape == (m,) and a.dtype.kind in "iu":
        if a.min(initial=0) < 0 or a.max(initial=0) >= k:
            raise MathguardError(f"labels outside 0..{k - 1}")
        return np.eye(k)[a]
    if a.shape == (m, k) and a.dtype.kind == "f":
        a = a.astype(np.float64)
        if not np.isfinite(a).all() or (a < 0).any() or not np.allclose(a.sum(axis=1), 1, atol=1e-6):
            raise MathguardError("probabilities must be finite, non-negative rows summing to 1")
        return a
    raise MathguardError(f"expected {m} integer labels or a ({m}, {k}) array of probabilities, got shape {a.shape}")
