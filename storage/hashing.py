"""Content hashes: the key that makes re-imports and embedding caches free."""

from __future__ import annotations

import hashlib
import unicodedata


def normalize_text(text: str) -> str:
    """Normalise text for hashing: Unicode NFC and collapsed whitespace. So "\\r\\n", "\\r" and
    "\\n" are one text: a spreadsheet saves a cell's "\\r\\n" back as "\\n", and the file
    imported again must find the example it stored (with its text as first written)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_hash(text: str) -> str:
    """A stable 32-hex-digit hash of the normalised text (SHA-256, truncated)."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()[:32]
