"""The Dask adapter of ``profile``: each partition is profiled on the worker that holds it, then merged.

The one part of the profile that knows Dask (imported here, only when a Dask DataFrame is
profiled). It calls the builder back for each partition, so the builder imports it lazily.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mathguard.drift.accumulators import is_numeric
from mathguard.drift.profile import Profile, profile
from mathguard.errors import InputError


def profile_partitions(ddf: Any, proba_cols: list[str] | None, **options: Any) -> Profile:
    """One profile per partition on the Dask workers, merged pairwise: exact, because merging is."""
    import dask

    text = [str(c) for c, t in ddf.dtypes.items() if not is_numeric(t) and str(c) not in (proba_cols or [])]
    options["categorical"] = sorted(set(options["categorical"]) | set(text))  # one schema for every partition

    def part(frame: pd.DataFrame) -> Profile | None:
        return profile(frame, proba_cols, **options) if len(frame) else None

    def merge(a: Profile | None, b: Profile | None) -> Profile | None:
        return b if a is None else a if b is None else a.merge(b)

    level = [dask.delayed(part)(p) for p in ddf.to_delayed()]
    while len(level) > 1:
        level = [dask.delayed(merge)(*level[i : i + 2]) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    result = dask.compute(level[0])[0] if level else None
    if result is None:
        raise InputError("the data is empty: no rows to profile")
    return result
