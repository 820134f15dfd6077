"""Source secrets sealed at rest with Fernet (AES-128-CBC with HMAC-SHA256), keys from settings.

A webhook's HMAC is checked by recomputing it with the secret itself, so a source's secrets
cannot be hashed like API keys; they are encrypted instead, and a copy of the database alone no
longer lets anyone sign webhooks. Values stored before a key was configured are plain text and
stay readable; `needs_resealing` finds them (and values sealed with an older key) so that they
can be sealed again with the newest key.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED = "fernet:"


class SecretsLocked(RuntimeError):
    """A sealed secret was read without the key that opens it."""


class SecretBox:
    """Seals with the first key, opens with any: add the new key first to rotate."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._newest = Fernet(keys[0]) if keys else None
        self._any = MultiFernet([Fernet(key) for key in keys]) if keys else None

    @property
    def sealing(self) -> bool:
        return self._any is not None

    def seal(self, secret: str) -> str:
        if self._newest is None:
            return secret
        return SEALED + self._newest.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        if self._any is None:
            raise SecretsLocked("a source secret is sealed and INTAKE_SECRETS_KEYS is not set")
        try:
            return self._any.decrypt(stored.removeprefix(SEALED).encode()).decode()
        except InvalidToken:
            raise SecretsLocked(
                "a source secret was sealed with a key no longer configured"
            ) from None

    def needs_resealing(self, stored: str) -> bool:
        """Plain text while a key is configured, or sealed with a key that is not the newest."""
        if self._newest is None:
            return False
        if not stored.startswith(SEALED):
            return True
        try:
            self._newest.decrypt(stored.removeprefix(SEALED).encode())
        except InvalidToken:
            return True
        return False


def valid_key(key: str) -> str:
    """`key` if Fernet can use it (32 url-safe base64-encoded bytes), else ValueError."""
    try:
        Fernet(key)
    except ValueError:
        raise ValueError(
            "not a Fernet key: 32 url-safe base64-encoded bytes, as made by "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`"
        ) from None
    return key
