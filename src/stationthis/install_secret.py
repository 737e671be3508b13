"""The per-install secret: a random value kept in ``<data_dir>/secret_key`` when
``STATIONTHIS_SECRET_KEY`` is not set (docs/decisions/0020).

Created once, atomically (a complete file appears under its final name or not at all, so two
processes starting at the same moment end up with the same secret), readable by its owner
only. A file others can read, an empty file or a weak value is refused with one line saying
how to fix it; nothing here ever prints the secret.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "secret_key"
MIN_LENGTH = 32
OLD_DEFAULT = "dev-insecure-change-me"  # the public default of earlier versions
NEW_SECRET_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


class SecretError(Exception):
    """The secret cannot be used: the message is one line saying how to fix it."""


def weakness(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign anything, or None when it will do."""
    if secret.strip() == OLD_DEFAULT:
        return "is the old public default"
    if len(secret) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if len(set(secret)) < 8:
        return "has fewer than 8 different characters"
    return None


def load_or_create(data_dir: Path) -> tuple[str, bool]:
    """The secret in ``data_dir/secret_key`` and whether it was created just now."""
    path = data_dir / FILE_NAME
    if os.path.lexists(path):
        return _read(path), False
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        if _publish(data_dir, path, secret):
            return secret, True
    except OSError as exc:
        raise SecretError(
            f"cannot create {path}: {exc.strerror or exc}; make the data directory writable "
            "or set STATIONTHIS_SECRET_KEY"
        ) from None
    return _read(path), False  # another process created it first: theirs is the one


def _publish(data_dir: Path, path: Path, secret: str) -> bool:
    """Write ``secret`` to ``path`` unless the file exists; False when it already did."""
    temp = data_dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    _write_new(temp, secret)
    try:
        os.link(temp, path)  # atomic, and never replaces an existing file
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive create in place
        try:
            _write_new(path, secret)
            return True
        except FileExistsError:
            return False
    finally:
        temp.unlink(missing_ok=True)


def _write_new(path: Path, secret: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secret + "\n")
        file.flush()
        os.fsync(file.fileno())


def _read(path: Path) -> str:
    try:
        mode = os.stat(path).st_mode
        if os.name == "posix" and mode & 0o077:
            raise SecretError(
                f"{path} can be read or changed by other users: run `chmod 600 {path}`"
            )
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SecretError(f"{path} is not text: delete it and start again to generate a new "
                          "secret, or set STATIONTHIS_SECRET_KEY") from None
    if not secret:
        raise SecretError(f"{path} is empty: delete it and start again to generate a new "
                          "secret, or set STATIONTHIS_SECRET_KEY")
    reason = weakness(secret)
    if reason:
        raise SecretError(f"the secret in {path} {reason}: delete the file and start again "
                          "to generate a new one, or set STATIONTHIS_SECRET_KEY")
    return secret
