"""Sealing personal data and its blind indexes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.crypto import (
    SealedBytes,
    SealError,
    Vault,
    key_id_of,
    new_key_text,
    parse_key_ring,
)

RING = parse_key_ring(new_key_text(1) + "," + new_key_text(2))
VAULT = Vault(RING, 2, b"i" * 32)


@given(st.text(max_size=300))
def test_what_is_sealed_opens_to_itself_and_never_shows(value):
    sealed = VAULT.seal(value, "contact")
    assert VAULT.open(sealed, "contact") == value
    assert key_id_of(sealed) == 2
    if len(value) >= 4:
        assert value.encode() not in sealed


def test_every_sealing_differs_but_the_index_is_stable():
    assert VAULT.seal("+525512345678", "contact") != VAULT.seal("+525512345678", "contact")
    assert VAULT.index("+525512345678", "contact") == VAULT.index("+525512345678", "contact")
    assert VAULT.index("+525512345678", "contact") != VAULT.index("+525512345679", "contact")


def test_the_index_depends_on_its_key_and_purpose():
    other = Vault(RING, 2, b"j" * 32)
    assert other.index("LOGA800101MDFPRR05", "national_id") != VAULT.index(
        "LOGA800101MDFPRR05", "national_id"
    )
    assert VAULT.index("x", "contact") != VAULT.index("x", "national_id")


def test_a_value_sealed_for_one_purpose_does_not_open_for_another():
    sealed = VAULT.seal("LOGA800101MDFPRR05", "national_id")
    with pytest.raises(SealError):
        VAULT.open(sealed, "contact")


def test_a_tampered_value_does_not_open():
    sealed = bytearray(VAULT.seal("LOGA800101MDFPRR05", "national_id"))
    sealed[-1] ^= 1
    with pytest.raises(SealError):
        VAULT.open(bytes(sealed), "national_id")


def test_old_keys_still_open_until_they_leave_the_ring():
    old = Vault(RING, 1, b"i" * 32)
    sealed = old.seal("+525512345678", "contact")
    assert VAULT.open(sealed, "contact") == "+525512345678"
    without_old = Vault({2: RING[2]}, 2, b"i" * 32)
    with pytest.raises(SealError):
        without_old.open(sealed, "contact")


@pytest.mark.parametrize(
    "ring",
    ["", "1", "x:" + base64.b64encode(b"k" * 32).decode(), "1:not base64!"],
)
def test_a_malformed_ring_is_refused(ring):
    with pytest.raises(ValueError):
        parse_key_ring(ring)


def test_keys_must_be_32_bytes_and_the_current_one_in_the_ring():
    with pytest.raises(ValueError):
        Vault({1: b"short"}, 1, b"i" * 32)
    with pytest.raises(ValueError):
        Vault(RING, 3, b"i" * 32)


@given(st.binary(max_size=2048), st.binary(max_size=64))
def test_sealed_bytes_open_only_under_their_associated_data(plaintext, associated):
    sealed = VAULT.seal_bytes(plaintext, associated)
    assert sealed.key_id == 2 and len(sealed.nonce) == 12
    assert len(sealed.ciphertext) == len(plaintext) + 16
    assert VAULT.open_bytes(sealed, associated) == plaintext
    with pytest.raises(SealError):
        VAULT.open_bytes(sealed, associated + b"!")


def test_altered_sealed_bytes_or_an_unknown_key_do_not_open():
    sealed = VAULT.seal_bytes(b"%PDF-1.4 INE frente", b"ctx")
    flipped = bytearray(sealed.ciphertext)
    flipped[3] ^= 1
    for broken in (
        SealedBytes(sealed.key_id, sealed.nonce, bytes(flipped)),
        SealedBytes(sealed.key_id, bytes(12), sealed.ciphertext),
        SealedBytes(sealed.key_id, sealed.nonce[:8], sealed.ciphertext),
        SealedBytes(9, sealed.nonce, sealed.ciphertext),
    ):
        with pytest.raises(SealError):
            VAULT.open_bytes(broken, b"ctx")
