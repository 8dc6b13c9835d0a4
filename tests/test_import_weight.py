"""`import mathguard` stays light, and figures touch matplotlib only when drawn, never its backend."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mathguard
from mathguard.report import Figure, new_axes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_CHILD = """
import json, os, sys
heavy = lambda: sorted(m for m in ("matplotlib", "torch") if m in sys.modules)
out = {}
import mathguard
out["after_import"] = heavy()
import mathguard.report
out["after_report"] = heavy()
import numpy as np
report = mathguard.audit_data(np.random.default_rng(0).normal(size=(300, 4)))
out["after_audit"] = heavy()
out["figures"] = len(report.figures)
report.to_json(os.path.join(sys.argv[1], "r.json"))
out["after_json"] = heavy()
import matplotlib
matplotlib.use("svg")
report.to_html(os.path.join(sys.argv[1], "r.html"))
out["backend_after_html"] = matplotlib.get_backend()
out["pyplot"] = "matplotlib.pyplot" in sys.modules
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def child(tmp_path_factory) -> tuple[dict, Path]:
    """One fresh interpreter (this one has long imported everything): what it loaded at each step."""
    tmp = tmp_path_factory.mktemp("import_weight")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tmp)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), tmp


def test_import_and_report_building_load_neither_matplotlib_nor_torch(child):
    out, _ = child
    assert out["after_import"] == [] and out["after_report"] == []
    assert out["figures"] == 2
    assert out["after_audit"] == [] and out["after_json"] == []  # built and written as JSON: nothing drawn


def test_html_draws_without_pyplot_or_a_backend_switch(child):
    out, tmp = child
    assert out["backend_after_html"] == "svg"
    assert not out["pyplot"]
    assert "data:image/png;base64," in (tmp / "r.html").read_text()


def test_lazy_figure_is_drawn_once_to_a_png():
    calls = []

    def draw():
        calls.append(1)
        fig, ax = new_axes()
        ax.plot([0, 1], [1, 0])
        return fig

    fig = Figure.later(draw, "line", "a line")
    assert calls == [] and "not drawn yet" in repr(fig)
    png = fig.png
    assert png.startswith(PNG_MAGIC)
    assert fig.png is png and fig.data_uri().startswith("data:image/png;base64,")
    assert calls == [1]


def test_every_lazy_name_is_spelled_out_for_type_checkers():
    tree = ast.parse(Path(mathguard.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") ==
                 "TYPE_CHECKING")
    imported = {alias.name for imp in block.body for alias in imp.names}
    assert imported == set(mathguard._LAZY) | mathguard._SUBPACKAGES
