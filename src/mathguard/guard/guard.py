"""The guard: validate → detect → predict or abstain → fall back → log, one row at a time in effect.

Every row of a batch gets its own decision and its reasons; nothing a row contains can
fail the batch, and no row's decision depends on the other rows of its batch (shuffling
or splitting a batch changes nothing). The model and every detector share one forward
pass over the rows that passed validation; a detector flags a row when its conformal
p-value is at most its calibrated fpr, or when its score is not a finite number (fail
closed), an ensemble when its members disagree too much. When the model (or a detector)
fails on a batch, the batch is bisected until the failing rows are found: they abstain
(layer "model"), the others get their answers. Refused rows go to the fallback (a simpler
model, a rule, a human queue); a fallback that raises or answers nonsense is caught and
reported, and those rows stay abstained. Logging goes through a bounded queue and a
background thread (:mod:`mathguard.guard.logqueue`), so the monitor never delays a
prediction.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence as SequenceABC
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from mathguard.detect.base import BATCH, Detector, shared_forward, unique_names
from mathguard.detect.forward import forward
from mathguard.drift.profile import Profile
from mathguard.errors import InputError, MathguardError
from mathguard.guard.logqueue import LogCounts, LogQueue
from mathguard.guard.rows import RowValidator, batch_error, holds_rows
from mathguard.guard.tally import GuardDecision, Tally
from mathguard.models.base import ABSTAIN, Classifier
from mathguard.models.torch_model import device_and_dtype, eval_mode
from mathguard.models.wrap import as_classifier
from mathguard.report import Report
from mathguard.params import COUNT, NON_NEGATIVE, UNIT, Choice, declare
from mathguard.validate import labels


class Guard:
    """Wrap a classifier for production: validation from the training profile, detectors, abstention, fallback.

    ``detectors`` must be calibrated and watch the model that predicts (``ensemble`` when
    given, else ``clf``). ``fallback`` is "abstain" or a callable taking the refused rows
    (as given) and returning labels (m,) or probabilities (m, K). ``monitor`` is an
    ``mg.monitor.Client`` (anything with ``log(features, proba, labels=, alarms=)``): every
    readable row is logged with the detectors' alarms, from a background thread and a queue
    of at most ``max_queued_rows`` rows (beyond that, events are dropped and counted), with
    a ``flush()`` of the monitor every ``flush_interval`` seconds while there is traffic.
    :meth:`close` (or leaving a ``with`` block) delivers what is queued, within a timeout;
    close the guard before the client, and leave the client to the guard while it is open
    (a client is not made to be called from two threads at once).
    """

    @declare(fallback=Choice(("abstain",), callable_ok=True), tolerance=NON_NEGATIVE, max_disagreement=UNIT,
             max_queued_rows=COUNT, flush_interval=NON_NEGATIVE)
    def __init__(self, clf: Any, *, profile: Profile | None = None, detectors: Sequence[Detector] = (),
                 ensemble: Any = None, fallback: "str | Callable[[Any], Any]" = "abstain", monitor: Any = None,
                 tolerance: float = 0.1, max_disagreement: float = 0.5, max_queued_rows: int = 100_000,
                 flush_interval: float = 5.0) -> None:
        self.model: Classifier = ensemble if ensemble is not None else (
            as_classifier(clf))
        self.detectors = list(detectors)
        for d in self.detectors:
            if not isinstance(d, Detector):
                raise InputError(f"detectors must be mg.detect detectors, got {type(d).__name__}")
            d._check_calibrated()
            if d.clf is not self.model:
                raise InputError(f"detector {d.name} watches another classifier than the one the guard predicts "
                                 "with; build it on the same object so they share one forward pass")
        self.fallback, self.monitor, self.max_disagreement = fallback, monitor, float(max_disagreement)
        self.members = list(getattr(ensemble, "members", [])) if ensemble is not None else []
        self.names = unique_names(self.detectors)
        limit, input_type = input_limit(self.model)
        self.validator = RowValidator(math.prod(self.model.input_shape), profile, tolerance, limit=limit,
                                      input_type=input_type)
        self._log = LogQueue(monitor, max_rows=max_queued_rows, flush_interval=flush_interval) \
            if monitor is not None else None
        if self._log is not None:  # events still queued when the guard is collected or Python exits
            weakref.finalize(self, self._log.close, 2.0)
        self._tally = Tally()

    # ------------------------------------------------------------------ deciding
    def predict(self, x: Any, y: Any = None) -> GuardDecision:
        """Decide every row of ``x``; labels ``y`` (optional) feed the accuracy figures of :meth:`report`.

        ``x`` is a batch: an array or tensor (N, *input_shape) or (N, d) (a 1-D one is one row),
        a DataFrame, or a list of rows. A batch of no rows gets an empty decision. ``y`` holds
        one integer class label 0..K-1 per row. Anything else is an InputError naming the argument.
        """
        if batch_error(x) is None and not isinstance(x, (np.ndarray, torch.Tensor, pd.DataFrame, pd.Series,
                                                          SequenceABC)):
            x = list(x)  # an iterator is read once: the fallback gets the same rows
        rows = self.validator(x)
        n, k = len(rows.values), self.model.n_classes
        yt = self._labels(y, n)  # checked before anything is decided or counted
        model_proba = np.full((n, k), np.nan)  # the bare model's answer where it gave one
        layer = ["validation" if not v else "" for v in rows.valid]
        reasons = [list(r) for r in rows.reasons]
        refusing: list[list[str]] = [[] for _ in range(n)]  # detectors that refused each row
        scores = {name: np.full(n, np.nan) for name in self.names}
        pvals = {name: np.full(n, np.nan) for name in self.names}
        idx = np.flatnonzero(rows.valid)
        if len(idx):
            proba, det_scores, disagreement, failed = self._answer(rows.values[idx], full=True)
            for pos, msg in failed.items():
                layer[idx[pos]], reasons[idx[pos]] = "model", [f"model failed: {msg}"]
            ok = np.ones(len(idx), bool)
            ok[list(failed)] = False
            model_proba[idx[ok]] = proba[ok]
            self._judge(idx[ok], [s[ok] for s in det_scores], None if disagreement is None else disagreement[ok],
                        scores, pvals, layer, reasons, refusing)
            self._tally.model_asked += len(idx)
            self._tally.model_failed += len(failed)
            if failed:
                self._tally.model_error = next(iter(failed.values()))
        abstained = np.array([bool(lay) for lay in layer], dtype=bool)
        proba = np.where(abstained[:, None], np.nan, model_proba)
        labels_ = np.where(abstained, ABSTAIN, np.nan_to_num(proba).argmax(axis=1))
        source = np.where(abstained, "abstain", "model").astype(object)
        if abstained.any() and self.fallback != "abstain":
            self._fall_back(x, np.flatnonzero(abstained), labels_, proba, source, reasons)
        decision = GuardDecision(labels_.astype(np.int64), proba, abstained, source, layer, reasons, scores, pvals)
        if yt is not None or self._log is not None:
            self._bare_answers(model_proba, rows.values, rows.readable & np.array([lay != "model" for lay in layer],
                                                                                  dtype=bool))
        self._record(decision, model_proba, rows.values, yt, refusing)
        return decision

    def predict_proba(self, x: Any) -> np.ndarray:
        """(N, K) probabilities with the fallback applied; NaN rows where the guard abstained without one."""
        return self.predict(x).proba

    def _labels(self, y: Any, n: int) -> np.ndarray | None:
        """``y`` as n integer labels 0..K-1, or an InputError naming ``y``."""
        if y is None:
            return None
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        arr = np.asarray(y)
        if arr.ndim == 0:
            raise InputError(f"y must hold one label per row of x, got a scalar ({type(y).__name__})")
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
        if len(arr) != n:
            raise InputError(f"y has {len(arr)} labels for {n} rows")
        if n == 0:
            return np.zeros(0, np.int64)
        return labels(arr, "y", n_classes=self.model.n_classes)

    def _answer(self, values: np.ndarray, *, full: bool) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None,
                                                                   dict[int, str]]:
        """The model's probabilities (and, when ``full``, detector scores and ensemble disagreement) per row.

        Rows go in chunks of the detectors' batch size. A chunk the model or a detector fails
        on is bisected until the failing rows stand alone, so one bad row costs only itself
        (about 2·log2(chunk) extra passes); their positions map to the one-line error.
        """
        m, k = len(values), self.model.n_classes
        proba = np.full((m, k), np.nan)
        det_scores = [np.full(m, np.nan) for _ in self.detectors] if full else []
        disagreement = np.full(m, np.nan) if full and self.members else None
        failed: dict[int, str] = {}
        xt = torch.as_tensor(values, dtype=torch.float32).reshape(m, *self.model.input_shape)
        pending = [(lo, min(lo + BATCH, m)) for lo in range(0, m, BATCH)][::-1]
        with torch.no_grad(), eval_mode(self.model):
            while pending:
                lo, hi = pending.pop()
                try:
                    p, s, dis = self._pass(xt[lo:hi], full)
                except Exception as exc:  # noqa: BLE001 — a failing model refuses rows, it never fails the batch
                    if hi - lo == 1:
                        failed[lo] = f"{type(exc).__name__}: {exc}".splitlines()[0] if not isinstance(
                            exc, MathguardError) else str(exc).splitlines()[0]
                    else:
                        mid = (lo + hi) // 2
                        pending += [(mid, hi), (lo, mid)]
                    continue
                proba[lo:hi] = p
                for acc, v in zip(det_scores, s):
                    acc[lo:hi] = v
                if disagreement is not None and dis is not None:
                    disagreement[lo:hi] = dis
        return proba, det_scores, disagreement, dict(sorted(failed.items()))

    def _pass(self, xt: torch.Tensor, full: bool) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
        """One forward pass: probabilities, detector scores, ensemble disagreement (the last two when ``full``)."""
        scores: list[np.ndarray] = []
        if full and self.detectors:
            logits, s = shared_forward(self.detectors, xt)
            scores = [v.double().cpu().numpy() for v in s]
        else:
            logits = forward(self.model, xt).logits
        proba = torch.softmax(logits.double(), dim=1).cpu().numpy()
        if not np.isfinite(proba).all():
            raise MathguardError("the model's probabilities are not finite")
        disagree = None
        if full and self.members:
            votes = torch.stack([m.logits(xt).argmax(1) for m in self.members])
            share = torch.nn.functional.one_hot(votes, self.model.n_classes).sum(0).amax(1)
            disagree = (1 - share.double() / len(self.members)).cpu().numpy()
        return proba, scores, disagree

    def _bare_answers(self, model_proba: np.ndarray, values: np.ndarray, readable: np.ndarray) -> None:
        """Fill in what the bare model says on readable rows that validation refused.

        The unguarded accuracy and the monitoring service (drift is measured on every
        readable row, refused or not) need the model's answer there; it costs a pass over
        those rows only, and a row the model fails on stays unanswered.
        """
        extra = np.flatnonzero(readable & np.isnan(model_proba).any(axis=1))
        if len(extra):
            proba, _, _, failed = self._answer(values[extra], full=False)
            ok = np.ones(len(extra), bool)
            ok[list(failed)] = False
            model_proba[extra[ok]] = proba[ok]

    def _judge(self, idx: np.ndarray, det_scores: list[np.ndarray], disagreement: np.ndarray | None,
               scores: dict[str, np.ndarray], pvals: dict[str, np.ndarray], layer: list[str],
               reasons: list[list[str]], refusing: list[list[str]]) -> None:
        for name, d, s in zip(self.names, self.detectors, det_scores):
            ok = np.isfinite(s)
            p = np.full(len(s), np.nan)
            p[ok] = d.p_values_of(s[ok])
            flagged = np.zeros(len(s), bool)
            flagged[ok] = d.flag(s[ok])
            scores[name][idx], pvals[name][idx] = s, p
            self._tally.scored[name] += len(s)
            self._tally.not_finite[name] += int((~ok).sum())
            for j in np.flatnonzero(~ok | flagged):
                i = idx[j]
                layer[i] = layer[i] or "detector"
                refusing[i].append(name)
                reasons[i].append(f"{name} p={p[j]:.3g} ≤ {d.fpr:g}" if ok[j] else
                                  f"{name} score is {s[j]}, not a finite number")
        if disagreement is not None:
            for i, dis in zip(idx, disagreement):
                if not dis <= self.max_disagreement:  # NaN refuses too
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
    def _record(self, dec: GuardDecision, model_proba: np.ndarray, values: np.ndarray, yt: np.ndarray | None,
                refusing: list[list[str]]) -> None:
        answered = self._tally.record(dec, model_proba, yt, refusing)
        if self._log is not None and answered.any():
            rows = np.flatnonzero(answered)
            self._log.put(len(rows), values[rows], model_proba[rows], labels=None if yt is None else yt[rows],
                          alarms=dec.abstained[rows])

    # ------------------------------------------------------------------ logging
    @property
    def log_counts(self) -> LogCounts:
        """What became of the events handed to the monitor so far (all zero without one)."""
        return self._log.counts() if self._log is not None else LogCounts()

    def flush(self, timeout: float = 10.0) -> LogCounts:
        """Deliver the queued events and flush the monitor, waiting at most ``timeout`` seconds."""
        if self._log is not None:
            self._log.flush(timeout)
        return self.log_counts

    def close(self, timeout: float = 10.0) -> LogCounts:
        """Flush (at most ``timeout`` seconds) and stop the logging thread; what was still queued counts as dropped.

        The monitor itself is not closed (it is the caller's). The guard keeps working after
        ``close``: a later prediction starts the thread again.
        """
        return self._log.close(timeout) if self._log is not None else LogCounts()

    def __enter__(self) -> "Guard":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def report(self) -> Report:
        """What the guard decided so far: abstention per layer and detector, accepted accuracy, failures."""
        return self._tally.report(self.log_counts)

def input_limit(model: Classifier) -> tuple[float, str]:
    """The largest magnitude the model's inputs can hold, and that type's name.

    The guard hands every model float32 (the model protocol's input type); a torch model in
    half precision, or a black box that asks for float16, holds less.
    """
    limit, name = float(np.finfo(np.float32).max), "float32"
    for part in [model, *model.parts]:
        dtypes: list[Any] = []
        if part.module is not None:
            dtypes.append(device_and_dtype(part.module)[1])
        if isinstance(getattr(part, "input_dtype", None), np.dtype) and part.input_dtype.kind == "f":
            dtypes.append(part.input_dtype)
        for dt in dtypes:
            top = float(torch.finfo(dt).max) if isinstance(dt, torch.dtype) else float(np.finfo(dt).max)
            if top < limit:
                limit, name = top, str(dt).replace("torch.", "")
    return limit, name


def _take(x: Any, idx: np.ndarray) -> Any:
    """The rows ``idx`` of a batch, in the form it was given."""
    if isinstance(x, pd.Series):
        x = x.to_frame().T
    if isinstance(x, pd.DataFrame):
        return x.iloc[idx]
    if isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype.kind == "O" and holds_rows(x):
        return x[idx]
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
