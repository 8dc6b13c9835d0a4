"""Command-line interface: a thin layer over the Python API (one module per command)."""

# OpenMP is left as the user set it. On an otherwise idle 2-core machine torch's spinning threads
# ran evaluate_robustness's attacks 1.2-2.6x faster than OMP_WAIT_POLICY=PASSIVE; on cores shared
# with other busy processes PASSIVE was 1.2-9x faster (#28). On a shared machine, export
# OMP_WAIT_POLICY=PASSIVE before running mathguard; the test suite (2 workers on 2 cores) does.

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
