"""The secrets that privacy depends on, and the keyed pseudonyms made with them.

Two keys live under ``$APIFLAG_HOME/secrets`` (directory 0700, files 0600), each generated
once, atomically, on first use:

- ``pseudonym.key``: the HMAC-SHA256 key of :func:`pseudonym`. The same value of the same kind
  gives the same token on every night, so linkage across nights survives masking; without the
  key a token cannot be reversed or recomputed from a guessed value.
- ``vault.key``: the Fernet key that encrypts the originals kept for re-identification. Losing
  it makes every masked record permanently anonymous; leaking it undoes the masking.

A key file readable by group or others is refused, never silently used.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import unicodedata
from functools import lru_cache
from pathlib import Path

from anyascii import anyascii
from cryptography.fernet import Fernet

from apiflag import config
from apiflag.errors import ApiflagError
from apiflag.normalise import normalise_document, normalise_email, phone_digits

PREFIX = "PSN:"
TOKEN_HEX = 16  # 64 bits: collisions are negligible below a billion values per kind
_PSN_RE = re.compile(r"PSN:[a-z_]+:[0-9a-f]{16}")

__all__ = [
    "PREFIX",
    "is_pseudonym",
    "normalise",
    "pseudonym",
    "pseudonym_key",
    "secrets_dir",
    "vault_cipher",
]


def secrets_dir() -> Path:
    """Return ``$APIFLAG_HOME/secrets`` (created 0700 if missing)."""
    path = config.home() / "secrets"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def read_or_create(path: Path, make: bytes) -> bytes:
    """Return the key at ``path``, creating it with ``make`` atomically (0600) if missing."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, make)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if another process won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ApiflagError(
            f"{path}: key file is readable by others (mode {mode:o}); run chmod 600 on it"
        )
    data = path.read_bytes().strip()
    if not data:
        raise ApiflagError(f"{path}: key file is empty")
    return data


@lru_cache(maxsize=8)
def _key_for(path: str) -> bytes:
    return bytes.fromhex(read_or_create(Path(path), secrets.token_hex(32).encode()).decode())


@lru_cache(maxsize=8)
def _key_in(home_setting: str, cwd: str) -> bytes:
    return _key_for(str(secrets_dir() / "pseudonym.key"))


def pseudonym_key() -> bytes:
    """Return the HMAC key of this home, generating it on first use."""
    setting = os.environ.get("APIFLAG_HOME", ".apiflag")
    return _key_in(setting, "" if os.path.isabs(setting) else os.getcwd())


@lru_cache(maxsize=8)
def _cipher_for(path: str) -> Fernet:
    return Fernet(read_or_create(Path(path), Fernet.generate_key()))


def vault_cipher() -> Fernet:
    """Return the Fernet cipher of the re-identification vault, generating its key on first use."""
    return _cipher_for(str(secrets_dir() / "vault.key"))


_SPACES = re.compile(r"\s+")


def normalise(kind: str, value: str) -> str:
    """Return the canonical form of ``value`` that a pseudonym of ``kind`` is computed over.

    Names and free text are transliterated to ASCII, upper-cased and space-collapsed, so
    ``"Müller  anna"`` and ``"MULLER ANNA"`` agree (but ``"MUELLER"`` is another value); identifiers (documents, locators, frequent-flyer and card numbers) keep letters and
    digits only (:func:`apiflag.normalise.normalise_document`); phones are E.164 digits
    (:func:`apiflag.normalise.phone_digits`); e-mails :func:`apiflag.normalise.normalise_email`;
    dates are taken as written
    (ISO ``YYYY-MM-DD`` throughout the warehouse).

    Args:
        kind: the kind of value (``name``, ``document``, ``phone``, ``email`` ...).
        value: the value as stored.

    Returns:
        The normalised value.
    """
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if kind == "email":
        return normalise_email(text)
    if kind == "phone":
        return phone_digits(text)
    if kind in {"document", "locator", "ff", "card", "seat"}:
        return normalise_document(text)
    if kind in {"dob", "date"}:
        return text[:10]
    return _SPACES.sub(" ", anyascii(text).upper()).strip()


def pseudonym(kind: str, value: str) -> str:
    """Return the keyed pseudonym of a personal value, e.g. ``PSN:name:3f9a0c51d2e47b18``.

    The token is HMAC-SHA256 (key: :func:`pseudonym_key`) over ``kind`` and the normalised
    value, truncated to 64 bits: stable across nights and runs of the same home, different
    between kinds, and not reversible without the vault.

    Args:
        kind: the kind of value; lower-case letters and ``_`` only.
        value: the value to pseudonymise.

    Returns:
        The token; a value that already is a pseudonym is returned unchanged.
    """
    if is_pseudonym(value):
        return value
    message = f"{kind}\x1f{normalise(kind, value)}".encode()
    digest = hmac.new(pseudonym_key(), message, hashlib.sha256).hexdigest()[:TOKEN_HEX]
    return f"{PREFIX}{kind}:{digest}"


def is_pseudonym(value: object) -> bool:
    """Return whether ``value`` is a whole pseudonym token."""
    return isinstance(value, str) and _PSN_RE.fullmatch(value) is not None
