"""Key files: one nation's Ed25519 seed on disk, readable by its owner alone.

Theory of operation
-------------------

A live node signs with a key it reads from a file written by `chemtrace keys`. The file is JSON:

    {"nation": "USA", "seed_hex": "<64 hex digits>", "public_key_hex": "<64 hex digits>"}

The seed is the secret; the public key is kept beside it so a file whose seed was damaged is
caught on read (the two no longer match) instead of signing as an unknown validator.

Like ssh with a private key, `read_key` refuses a file that its group or others may read: a
key that was ever world-readable must be treated as leaked, and refusing loudly is how an
operator learns to run `chmod 600`. `write_key` creates the file with mode 0600 from the start
(`os.open` with the mode, so the secret is never readable by others, not even for an instant)
and exclusively, so an existing key is never clobbered; it replaces one only when asked, through
a rename, so a crash leaves the old key or the new, never half of one.

The public half goes in NATION.pub, `{"nation", "public_key_hex"}`, readable by all: that is
the file a nation sends to whoever makes the genesis, so seeds never leave their hosts.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from nodes.chain.genesis import NATION_CODE
from nodes.chain.identity import PUBLIC_KEY_BYTES, Identity

KEY_FILE_BYTES_MAX = 4096
KEY_FILE_MODE = 0o600
KEY_DIR_MODE = 0o700
PUBLIC_FILE_MODE = 0o644
SEED_BYTES = 32
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file, the field and the fix."""


def write_key(path: str | Path, nation: str, identity: Identity, *,
              overwrite: bool = False) -> Path:
    """Write `identity`'s seed for `nation` to `path` with mode 0600; return the path.

    Refuses an existing file unless `overwrite`, because a key that is replaced cannot be got
    back and the genesis that lists its public key would no longer match.
    """
    path = Path(path)
    _check_nation(path, nation)
    if identity.name != nation:
        raise KeyFileError(f"{path}: the identity signs as {identity.name!r}, not {nation!r}")
    text = json.dumps({"nation": nation, "seed_hex": identity.seed_bytes().hex(),
                       "public_key_hex": identity.public_key.hex()}, indent=2) + "\n"
    if overwrite:
        # Through a new file and a rename: a crash leaves the old key or the new, never half.
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        _write_new(tmp, text, KEY_FILE_MODE)
        os.replace(tmp, path)
        return path
    try:
        # O_EXCL: a file that appeared since any check is never clobbered. A crash while
        # writing leaves a short file, which read_key refuses as damaged.
        _write_new(path, text, KEY_FILE_MODE)
    except FileExistsError:
        raise KeyFileError(f"{path}: a key file exists already; keep it, or pass --force to "
                           "replace it (the genesis must then be made again)") from None
    return path


def write_public(path: str | Path, nation: str, public_key: bytes, *,
                 overwrite: bool = False) -> Path:
    """Write the public half, `{"nation", "public_key_hex"}`, to send to whoever makes the
    genesis. It holds no secret, so it is readable by all (0644)."""
    path = Path(path)
    _check_nation(path, nation)
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise KeyFileError(f"{path}: a public key is {PUBLIC_KEY_BYTES} bytes")
    text = json.dumps({"nation": nation, "public_key_hex": public_key.hex()}, indent=2) + "\n"
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path}: a public key file exists already; pass --force to replace it")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    _write_new(tmp, text, PUBLIC_FILE_MODE)
    os.replace(tmp, path)
    return path


def read_public(path: str | Path) -> tuple[str, bytes]:
    """Read a NATION.pub file (or the public half of a NATION.key); return (nation, key)."""
    path = Path(path)
    raw = _read_json(path)
    nation = _nation_field(path, raw)
    public_hex = raw.get("public_key_hex")
    if not isinstance(public_hex, str) or not _HEX64.fullmatch(public_hex):
        raise KeyFileError(f"{path}: field 'public_key_hex' must be {PUBLIC_KEY_BYTES * 2} "
                           "lowercase hex digits; ask the nation for its NATION.pub again")
    return nation, bytes.fromhex(public_hex)


def read_key(path: str | Path) -> tuple[str, Identity]:
    """Read a key file written by `write_key`; return (nation, identity)."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror}; create one with "
                           "`chemtrace keys --nations CODE --out DIR`") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"{path}: not a regular file")
    if info.st_mode & 0o077:
        raise KeyFileError(
            f"{path}: the key file is readable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` (and treat the key as "
            "exposed if others could log in here)")
    raw = _read_json(path)
    nation = _nation_field(path, raw)
    seed_hex, public_hex = raw.get("seed_hex"), raw.get("public_key_hex")
    for field, value in (("seed_hex", seed_hex), ("public_key_hex", public_hex)):
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise KeyFileError(f"{path}: field {field!r} must be {SEED_BYTES * 2} lowercase hex "
                               "digits; regenerate the key with `chemtrace keys --force`")
    identity = Identity(nation, bytes.fromhex(seed_hex))
    if identity.public_key != bytes.fromhex(public_hex):
        raise KeyFileError(f"{path}: field 'public_key_hex' does not match 'seed_hex'; the file "
                           "is damaged: restore it from a backup or regenerate it with "
                           "`chemtrace keys --force` and make the genesis again")
    return nation, identity


def make_key_dir(path: str | Path) -> Path:
    """Create (or tighten) a directory for key files: mode 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=KEY_DIR_MODE)
    os.chmod(path, KEY_DIR_MODE)
    return path


def key_path(directory: str | Path, nation: str) -> Path:
    return Path(directory) / f"{nation}.key"


def public_path(directory: str | Path, nation: str) -> Path:
    return Path(directory) / f"{nation}.pub"


def _check_nation(path: Path, nation: str) -> None:
    if not isinstance(nation, str) or not NATION_CODE.fullmatch(nation):
        raise KeyFileError(f"{path}: nation {nation!r} is not an ISO 3166 alpha-3 code such as "
                           "'USA'")


def _write_new(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        # The umask may have cleared bits of `mode` (never added any); set it exactly.
        os.chmod(path, mode)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict:
    try:
        size = path.stat().st_size
        if size > KEY_FILE_BYTES_MAX:
            raise KeyFileError(f"{path}: {size} bytes is too large for a key file (at most "
                               f"{KEY_FILE_BYTES_MAX}); is this the right file?")
        raw = json.loads(path.read_text(encoding="ascii"))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the file: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise KeyFileError(f"{path}: not a chemtrace key file (JSON expected): {exc}") from None
    if not isinstance(raw, dict):
        raise KeyFileError(f"{path}: a key file is a JSON object with nation, seed_hex and "
                           "public_key_hex")
    return raw


def _nation_field(path: Path, raw: dict) -> str:
    nation = raw.get("nation")
    if not isinstance(nation, str) or not NATION_CODE.fullmatch(nation):
        raise KeyFileError(f"{path}: field 'nation' must be an ISO 3166 alpha-3 code such as "
                           "'USA'")
    return nation
