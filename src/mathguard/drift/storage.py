"""A profile on disk: one versioned JSON document, written atomically, read back with one-line errors.

The document is what ``Profile.to_dict`` returns. This module owns its envelope (the
``SCHEMA`` tag, which class a feature's ``kind`` names, how two documents compare) and the
file, so that a change of format or of file handling touches one place.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from mathguard.drift.accumulators import CategoricalFeature, Feature, NumericFeature
from mathguard.errors import InputError

SCHEMA = "mathguard.profile/1"


def check_schema(doc: Any) -> None:
    """Refuse a document that is not a profile of this schema version before reading any field."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"not a mathguard profile (schema {found!r}; expected {SCHEMA!r})")


def feature_from_dict(doc: dict[str, Any]) -> Feature:
    """The feature a document describes, its class picked by its ``kind``."""
    kinds = {"numeric": NumericFeature, "categorical": CategoricalFeature}
    if doc.get("kind") not in kinds:
        raise InputError(f"profile feature has unknown kind {doc.get('kind')!r}")
    return kinds[doc["kind"]].from_dict(doc)


def same_document(a: Any, b: Any) -> bool:
    """Structural equality of two to_dict() documents, floats compared to 1e-12 relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_document(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_document(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300) or (math.isnan(a) and math.isnan(b))
    return a == b


def write_document(path: "str | os.PathLike[str]", doc: dict[str, Any]) -> None:
    """Write ``doc`` as JSON (atomically: a failure leaves no partial file)."""
    from mathguard.report.report import write_atomic

    write_atomic(path, json.dumps(doc, allow_nan=False, separators=(",", ":")))


def read_document(path: "str | os.PathLike[str]") -> Any:
    """The JSON document in ``path``; a missing, non-JSON or binary file is an ``InputError``."""
    if not os.path.isfile(path):
        raise InputError(f"no such file: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a profile: not UTF-8 text (a binary file?)") from None
