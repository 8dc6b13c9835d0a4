"""`mathguard keys`: create, list and revoke the monitor's API keys (stored hashed)."""

from __future__ import annotations

import time

import click

from mathguard.cli.app import main
from mathguard.cli.serve import monitor_module

_DB = click.option("--db", default="sqlite:///mathguard.db", show_default=True, help="The server's database URL.")


def _store(db: str):  # noqa: ANN202 (returns a Store)
    store = monitor_module("store").Store(db)
    store.migrate()
    return store


@main.group("keys")
def keys_group() -> None:
    """Manage API keys of the monitoring service."""


@keys_group.command("create")
@_DB
@click.option("--scope", "scopes", default="ingest,read", show_default=True,
              help="Comma-separated scopes: ingest, read, admin.")
@click.option("--name", required=True, help="Who or what uses the key (shown in `keys list`).")
def create_cmd(db: str, scopes: str, name: str) -> None:
    """Create a key; it is printed once, alone on the last line, and only its hash is stored."""
    key = _store(db).create_key(name, scopes)
    click.echo(f"created key {name!r} ({scopes}); it is shown only now:")
    click.echo(key)


@keys_group.command("list")
@_DB
def list_cmd(db: str) -> None:
    """List keys (prefix, name, scopes, state); never the keys themselves."""
    for k in _store(db).list_keys():
        state = "revoked" if k["revoked_at"] else "active"
        made = time.strftime("%Y-%m-%d", time.gmtime(k["created_at"]))
        click.echo(f"{k['prefix']}…  {k['name']:<20} {k['scopes']:<20} {state:<8} {made}")


@keys_group.command("revoke")
@_DB
@click.argument("prefix")
def revoke_cmd(db: str, prefix: str) -> None:
    """Revoke the key whose listed prefix is PREFIX."""
    from mathguard.errors import MathguardError

    if not _store(db).revoke_key(prefix.rstrip("…")):
        raise MathguardError(f"no active key with prefix {prefix!r}")
    click.echo(f"revoked {prefix}")
