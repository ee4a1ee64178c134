"""The process's vault: personal data is sealed and indexed with the keys in the settings.

Built from :func:`app.config.get_settings` on first use; :func:`configure` sets it from
other settings (the app factory and the CLI call it), :func:`using` swaps it for a block
(tests, key rotation).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.config import Settings, get_settings
from app.domain.crypto import Vault, parse_key_ring

_current: Vault | None = None


def vault_from(settings: Settings) -> Vault:
    ring = parse_key_ring(settings.data_keys.get_secret_value())
    current = settings.data_key_id if settings.data_key_id is not None else max(ring)
    return Vault(ring, current, settings.blind_index_key.get_secret_value().encode())


def configure(settings: Settings) -> Vault:
    global _current
    _current = vault_from(settings)
    return _current


def current() -> Vault:
    return _current if _current is not None else configure(get_settings())


@contextmanager
def using(vault: Vault) -> Iterator[Vault]:
    global _current
    previous = _current
    _current = vault
    try:
        yield vault
    finally:
        _current = previous
