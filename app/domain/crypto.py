"""Personal data at rest: AES-256-GCM sealing with a key ring, and keyed blind indexes.

A sealed value is ``key id (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``. The
key id lets the ring hold old keys while ``cartera keys rotate`` re-seals rows under the
current one. The *purpose* (``national_id``, ``contact``) is bound in as associated data, so
a ciphertext copied from one column into another does not open.

Bytes (document chunks) are sealed the same way but kept in three parts, ``key id``,
``nonce`` and ``ciphertext ‖ tag`` (:class:`SealedBytes`), under associated data the caller
builds: a document chunk binds its purpose, its blob, its place and whether it is the last
one (:func:`app.domain.documents.chunk_context`).

A blind index is HMAC-SHA256 of the purpose and the normalised value under a separate key:
equal values give equal indexes (exact search, uniqueness), and without the key the index
says nothing about the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


@lru_cache(maxsize=64)
def _aead(key: bytes) -> AESGCM:
    """The cipher of one key, built once (a push seals several values per row)."""
    return AESGCM(key)


class SealError(ValueError):
    """A sealed value that cannot be opened: unknown key id, or tampered with."""


@dataclass(frozen=True, slots=True)
class SealedBytes:
    """Bytes sealed under ``key_id``: ``ciphertext`` ends with the 16-byte GCM tag."""

    key_id: int
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class Vault:
    keys: Mapping[int, bytes]
    current: int
    index_key: bytes

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"the current key {self.current} is not in the key ring")
        for key_id, key in self.keys.items():
            if not 1 <= key_id <= 255:
                raise ValueError("key ids are 1 to 255")
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id} must be {KEY_BYTES} bytes")
        if len(self.index_key) < KEY_BYTES:
            raise ValueError(f"the blind-index key must be at least {KEY_BYTES} bytes")

    def seal(self, plaintext: str, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = _aead(self.keys[self.current]).encrypt(nonce, plaintext.encode(), purpose.encode())
        return bytes([self.current]) + nonce + sealed

    def open(self, blob: bytes, purpose: str) -> str:
        key = self.keys.get(blob[0]) if blob else None
        if key is None:
            raise SealError("sealed with a key that is not in the key ring")
        nonce = blob[1 : 1 + NONCE_BYTES]
        try:
            return _aead(key).decrypt(nonce, blob[1 + NONCE_BYTES :], purpose.encode()).decode()
        except InvalidTag as exc:
            raise SealError("the sealed value does not open (wrong purpose or altered)") from exc

    def seal_bytes(self, plaintext: bytes, associated: bytes) -> SealedBytes:
        """Seal ``plaintext`` under the current key, bound to ``associated``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = _aead(self.keys[self.current]).encrypt(nonce, plaintext, associated)
        return SealedBytes(self.current, nonce, sealed)

    def open_bytes(self, sealed: SealedBytes, associated: bytes) -> bytes:
        """The plaintext of ``sealed``; SealError for an unknown key, other associated data
        or any altered byte."""
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise SealError("sealed with a key that is not in the key ring")
        if len(sealed.nonce) != NONCE_BYTES:
            raise SealError("the nonce is not the length this sealing uses")
        try:
            return _aead(key).decrypt(sealed.nonce, sealed.ciphertext, associated)
        except InvalidTag as exc:
            raise SealError("the sealed bytes do not open (other context or altered)") from exc

    def index(self, value: str, purpose: str) -> bytes:
        return hmac.new(
            self.index_key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256
        ).digest()


def key_id_of(blob: bytes) -> int:
    return blob[0]


def parse_key_ring(text: str) -> dict[int, bytes]:
    """``1:<base64 key>,2:<base64 key>`` → {1: key, 2: key}."""
    ring: dict[int, bytes] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id.strip().isdigit():
            raise ValueError("each key is written id:base64, e.g. 1:AAAA…")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except ValueError as exc:
            raise ValueError(f"key {key_id} is not base64") from exc
        ring[int(key_id)] = key
    if not ring:
        raise ValueError("the key ring is empty")
    return ring


def new_key_text(key_id: int) -> str:
    """A fresh key as a key-ring entry."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"
