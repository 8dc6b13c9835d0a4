"""API keys: random tokens shown once, stored as SHA-256 hashes, each with a set of scopes.

A key carries 256 random bits, so a fast hash is as safe as a slow one here (there is no
password to guess); SHA-256 lets every request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

from mathguard.errors import InputError

SCOPES = ("ingest", "read", "admin")
PREFIX = "mg_"


def new_key() -> str:
    """A fresh key: ``mg_`` and 43 URL-safe characters."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_scopes(text: str | list[str]) -> list[str]:
    """Scopes from 'ingest,read' (or a list); unknown names are an error, order is normalised."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = sorted(set(names) - set(SCOPES))
    if unknown or not names:
        raise InputError(f"unknown or empty scopes {unknown or names}; choose from {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in names]
