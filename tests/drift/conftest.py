import numpy as np
import pandas as pd
import pytest


def make_frame(n: int, seed: int, shift: float = 0.0, swap: bool = False, missing: float = 0.05) -> pd.DataFrame:
    """Five standard-normal features (f0 shifted by ``shift`` σ), f1 with missing values, one categorical."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"f{i}" for i in range(5)])
    df["f0"] += shift
    df.loc[rng.random(n) < missing, "f1"] = np.nan
    df["colour"] = rng.choice(["red", "green", "blue"], size=n, p=[0.3, 0.6, 0.1] if swap else [0.6, 0.3, 0.1])
    return df


@pytest.fixture
def frame():
    return make_frame
