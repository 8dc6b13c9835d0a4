"""Progress display: a bar on an interactive terminal, nothing in pipes, CI or with --quiet."""

import io
import sys

from mathguard.cli.app import activity


def test_silent_without_a_terminal(capsys):
    with activity("audit") as shown:
        shown.update("data lens", 1, 7)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_with_eta_on_a_terminal(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with activity("audit") as shown:
        assert shown.bar is not None
        shown.update("info lens", 3, 7)
        shown.bar.refresh()
    assert "audit: info lens" in term.getvalue()
    assert activity("audit", quiet=True).bar is None
