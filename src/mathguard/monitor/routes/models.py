"""Models: register one with its reference profile, list them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mathguard.monitor.deps import NAME, ApiError, Service, scope, service
from mathguard.monitor.limits import check_profile
from mathguard.monitor.windows import Counts, summarize
from mathguard.monitor.worker import one_line

router = APIRouter(tags=["models"])


class ModelIn(BaseModel):
    name: str = Field(pattern=NAME, description="Model name (letters, digits, . _ -)")
    profile: dict[str, Any] = Field(description="The reference: a mathguard.profile/1 JSON object")
    label_counts: list[int] | None = Field(None, max_length=1000,
                                           description="The reference's label count per class (label drift); "
                                                       "without it the reference's predicted classes stand in")


@router.post("/v1/models", status_code=201, dependencies=[Depends(scope("admin"))])
def register(body: ModelIn, svc: Service = Depends(service)) -> dict[str, Any]:
    """Register a model with its reference profile (admin); every field of the profile is checked."""
    reference = check_profile(body.profile)
    try:  # the reference must be comparable with itself, or every window of the model would fail later
        summarize(reference, reference, Counts(reference.n_rows))
    except Exception as exc:
        raise ApiError(422, f"the profile cannot be compared: {one_line(exc)}", "bad_request") from None
    m = svc.store.register_model(body.name, reference, svc.settings.max_models, body.label_counts)
    return {"name": m.name, "n_features": m.n_features, "n_classes": m.n_classes,
            "prediction_drift": "measured" if m.n_classes else
            "n/a: the reference profile has no predictions (probabilities still give entropy and accuracy)"}


@router.get("/v1/models", dependencies=[Depends(scope("read"))])
def list_models(svc: Service = Depends(service)) -> list[dict[str, Any]]:
    out = []
    for m in svc.store.models():
        item: dict[str, Any] = {"name": m.name, "n_features": m.n_features, "n_classes": m.n_classes}
        try:
            item["features"] = list(m.reference.features)
        except Exception as exc:  # a profile stored before the checks existed: say so, list the rest
            item["features"], item["error"] = [], one_line(exc)
        failures = svc.worker.failures_of(m.id)
        if failures:
            item["failures"] = failures
        out.append(item)
    return out
