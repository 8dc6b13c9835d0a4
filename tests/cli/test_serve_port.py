"""`mathguard serve` on a port another process holds is a usage error (exit 2, one line naming the port), not a bug (#24)."""

import socket

from click.testing import CliRunner

from mathguard.cli import main


def test_a_busy_port_is_exit_2_naming_the_port(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        res = CliRunner().invoke(main, ["serve", "--db", f"sqlite:///{tmp_path / 'm.db'}", "--port", str(port)])
    assert res.exit_code == 2, res.output
    assert f"--port {port}" in res.output and "Traceback" not in res.output
    assert "mathguard monitor on" not in res.output
