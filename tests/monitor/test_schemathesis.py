"""Property-based fuzzing of the API from its own /openapi.json (bounded): no input makes the server answer 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module", params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Server errors do not depend on the database here: SQLite alone keeps the run short."""
    return f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'monitor.db'}"


def test_no_server_error_from_schema_driven_requests(served, kit, tmp_path) -> None:  # noqa: ANN001
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if cli is None:
        pytest.skip("schemathesis is not installed")
    server, keys = served
    kit.register(server, keys["admin"], name="m")  # so paths with {name} can hit a real model
    key = kit.make_key(server.db, "admin,ingest,read")
    run = subprocess.run([cli, "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
                          "--max-examples", "25", "--seed", "1", "--request-timeout", "30",
                          "-H", f"Authorization: Bearer {key}", "--report-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts and int(counts.group(1)) > 100 and counts.group(1) == counts.group(2), run.stdout[-2000:]
