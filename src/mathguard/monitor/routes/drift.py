"""Drift: the per-window series, and one feature's histogram against the reference."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query

from mathguard.monitor.config import MAX_DURATION, parse_duration
from mathguard.monitor.deps import MAX_TIME, ApiError, Service, model, query_time, scope, service
from mathguard.monitor.store import Model
from mathguard.monitor.series import drift_series, feature_histogram

router = APIRouter(tags=["drift"], dependencies=[Depends(scope("read"))])


@router.get("/v1/models/{name}/drift")
def drift(m: Model = Depends(model), window: str = Query("1h", max_length=20),
          start: str | None = Query(None, max_length=40), end: str | None = Query(None, max_length=40),
          svc: Service = Depends(service)) -> dict[str, Any]:
    """Per-window verdict, per-feature PSI/KL/JS, entropy, accuracy, alarm rate (read); at the server's
    resolution each window's summary is the one stored when it was folded."""
    resolution = svc.settings.resolution_s
    width = parse_duration(window, maximum=MAX_DURATION)
    stop = query_time(end) if end else time.time()
    begin = query_time(start) if start else stop - 24 * width
    if not (0 <= begin <= MAX_TIME and 0 <= stop <= MAX_TIME):
        raise ApiError(422, f"start and end must lie between 1970 and {MAX_TIME:.0e} s after it", "bad_request")
    series = drift_series(svc.store, m, window=width, resolution=resolution, start=begin, end=stop)
    return {"model": m.name, "window_s": width, "resolution_s": resolution,
            "start": begin, "end": stop, "windows": series}


@router.get("/v1/models/{name}/histogram")
def histogram(m: Model = Depends(model), feature: str = Query(max_length=1000),
              window: str = Query("1h", max_length=20), end: str | None = Query(None, max_length=40),
              svc: Service = Depends(service)) -> dict[str, Any]:
    """One feature in the latest window before ``end`` against the reference: the reference's quantile bins,
    both shares per bin, PSI/KL/JS (the numbers of that window's drift summary) (read)."""
    width = parse_duration(window, maximum=MAX_DURATION)
    stop = query_time(end) if end else time.time() + svc.settings.clock_skew_s
    if not 0 <= stop <= MAX_TIME:
        raise ApiError(422, f"end must lie between 1970 and {MAX_TIME:.0e} s after it", "bad_request")
    try:
        return feature_histogram(svc.store, m, feature, window=width, resolution=svc.settings.resolution_s, end=stop)
    except KeyError:
        names = list(m.reference.features)
        raise ApiError(404, f"model {m.name!r} has no feature {feature[:100]!r}; its features: "
                       + ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""), "not_found") from None
