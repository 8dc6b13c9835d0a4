"""Command-line interface: a thin layer over the Python API (one module per command)."""

import os

# Before torch loads: OpenMP threads that spin while they wait make the small batches of
# attacks and detectors up to 10x slower when other processes share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mathguard.cli import audit as _audit  # noqa: F401  (registers the commands)
from mathguard.cli import audit_data as _audit_data  # noqa: F401  (registers the command)
from mathguard.cli import calibration as _calibration  # noqa: F401  (registers the command)
from mathguard.cli import certify as _certify  # noqa: F401  (registers the command)
from mathguard.cli import compare as _compare  # noqa: F401  (registers the command)
from mathguard.cli import demo as _demo  # noqa: F401  (registers the command)
from mathguard.cli import detect as _detect  # noqa: F401  (registers the command)
from mathguard.cli import drift as _drift  # noqa: F401  (registers the commands)
from mathguard.cli import guard as _guard  # noqa: F401  (registers the command)
from mathguard.cli import keys as _keys  # noqa: F401  (registers the commands)
from mathguard.cli import robustness as _robustness  # noqa: F401  (registers the command)
from mathguard.cli import serve as _serve  # noqa: F401  (registers the command)
from mathguard.cli import service as _service  # noqa: F401  (registers the commands)
from mathguard.cli.app import main

__all__ = ["main"]
