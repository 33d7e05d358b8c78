#!/usr/bin/env python3
"""Read a Lagoa-written encrypted Parquet file with PyArrow's standard key tools.

Usage:
    read_encrypted.py --keystore PATH --file PARQUET [--columns a,b]

Only the public `pyarrow.parquet.encryption` API is used (CryptoFactory,
KmsConnectionConfig, DecryptionConfiguration and a KmsClient subclass). The KMS
client loads Lagoa's local key store (keys/keystore.json) and unwraps keys in
the format of docs/interfaces.md (a sealed store, format 2, is opened with the
seal key file it names, `--seal-key-file`, or LAGOA_KEYSTORE_PASSPHRASE):

    wrapped_key = base64( nonce(12) || AES-256-GCM ciphertext || tag(16) )
    key         = the master key's 32 bytes, AAD = UTF-8 of master_key_identifier
    a personal column's id is `<master key id>#<column>`; its key is
    HMAC-SHA256(master key, b"lagoa column key\\0" + UTF-8 column name)

The file's AAD prefix is stored in the file, so nothing else is needed.

Output: one JSON object per row on stdout, in column order; dates, times,
timestamps and decimals as strings, binary as hex. Rows are sorted by the
string values of all columns so output is deterministic. Any failure exits
non-zero with a message on stderr.

The module is importable: `LagoaKmsClient`, `load_keystore`, `crypto_factory`,
`kms_connection_config` and `read_table` are reused by selftest_kms.py.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import datetime as _dt
import decimal
import json
import math
import os
import sys

SEALED_FORMAT = "lagoa-local-keystore/2"
UNSEALED_FORMAT = "lagoa-local-keystore/1"
KEYSTORE_FORMATS = (SEALED_FORMAT, UNSEALED_FORMAT)
NONCE_LEN = 12
TAG_LEN = 16
KEYSTORE_CONF_KEY = "lagoa.keystore"
SEAL_KEY_FILE_CONF_KEY = "lagoa.seal_key_file"


class ReadError(Exception):
    """A failure with a message meant for the user."""


def _die(msg: str, code: int = 1) -> None:
    print(f"read_encrypted: error: {msg}", file=sys.stderr)
    sys.exit(code)


try:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError as e:  # pragma: no cover - environment problem
    _die(f"{e} (run scripts/bootstrap and use .venv/bin/python)")


# --------------------------------------------------------------------------- key store


def _seal_key(doc: dict, path: str, seal_key_file: str | None) -> bytes | None:
    """The key a format-2 store's master keys are sealed under (None for format 1).

    A key-file seal reads the file the store names (or `seal_key_file`); a
    passphrase seal stretches LAGOA_KEYSTORE_PASSPHRASE with Argon2id, as
    docs/interfaces.md says."""
    seal = doc.get("seal")
    if seal is None:
        return None
    if seal.get("kind") == "key-file":
        file = seal_key_file or seal.get("key_file")
        try:
            with open(file, "r", encoding="ascii") as f:
                key = base64.b64decode(f.read().strip(), validate=True)
        except (OSError, TypeError, ValueError) as e:
            raise ReadError(f"{path} is sealed by the key file {file}, which cannot be read: {e}")
    elif seal.get("kind") == "passphrase":
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        passphrase = os.environ.get("LAGOA_KEYSTORE_PASSPHRASE")
        if not passphrase:
            raise ReadError(f"{path} is sealed by a passphrase: set LAGOA_KEYSTORE_PASSPHRASE")
        kdf = seal["kdf"]
        key = Argon2id(
            salt=base64.b64decode(kdf["salt"]),
            length=32,
            iterations=kdf["iterations"],
            lanes=kdf["parallelism"],
            memory_cost=kdf["memory_kib"],
        ).derive(passphrase.encode("utf-8"))
    else:
        raise ReadError(f"{path}: unknown seal {seal.get('kind')!r}")
    if len(key) != 32:
        raise ReadError(f"{path}: the seal key is {len(key)} bytes, expected 32")
    try:
        AESGCM(key).decrypt(*_split(seal["check"]), b"lagoa-seal-check")
    except (InvalidTag, ReadError):
        raise ReadError(f"the seal key does not open {path} (wrong key file or passphrase)")
    return key


def _split(sealed: str) -> tuple[bytes, bytes]:
    blob = base64.b64decode(sealed)
    if len(blob) < NONCE_LEN + TAG_LEN:
        raise ReadError("a sealed value is too short")
    return blob[:NONCE_LEN], blob[NONCE_LEN:]


def load_keystore(path: str, seal_key_file: str | None = None) -> dict:
    """Load and validate keys/keystore.json (unsealing format 2); returns the parsed document."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ReadError(f"key store not found: {path}")
    except (OSError, ValueError) as e:
        raise ReadError(f"cannot read key store {path}: {e}")
    if not isinstance(doc, dict) or doc.get("format") not in KEYSTORE_FORMATS:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        raise ReadError(f"{path}: unsupported key store format {fmt!r}, expected one of {KEYSTORE_FORMATS!r}")
    if not isinstance(doc.get("keys"), dict):
        raise ReadError(f"{path}: key store has no 'keys' object")
    doc["_seal_key"] = _seal_key(doc, path, seal_key_file)
    return doc


def _master_key(doc: dict, key_id: str, path: str) -> bytes:
    entry = doc["keys"].get(key_id)
    if entry is None:
        # lagoa.<dataset>.<kind>.vN: say so when the dataset was shredded.
        parts = key_id.split(".")
        dataset = ".".join(parts[1:-2]) if len(parts) >= 4 else None
        shredded = doc.get("shredded") or {}
        if dataset and dataset in shredded:
            raise ReadError(f"master key {key_id!r} is gone: dataset {dataset!r} was shredded at {shredded[dataset]}")
        raise ReadError(f"master key {key_id!r} not in key store {path}")
    if doc.get("_seal_key") is not None and isinstance(entry, dict) and isinstance(entry.get("sealed"), str):
        try:
            key = AESGCM(doc["_seal_key"]).decrypt(*_split(entry["sealed"]), f"lagoa-seal:{key_id}".encode("utf-8"))
        except InvalidTag:
            raise ReadError(f"master key {key_id!r} does not open under the seal (the key store was altered)")
        if len(key) != 32:
            raise ReadError(f"master key {key_id!r} is {len(key)} bytes, expected 32 (AES-256)")
        return key
    b64 = entry.get("key") if isinstance(entry, dict) else None
    if not isinstance(b64, str):
        raise ReadError(f"master key {key_id!r} in {path} has no 'key' string")
    try:
        key = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ReadError(f"master key {key_id!r} is not valid base64: {e}")
    if len(key) != 32:
        raise ReadError(f"master key {key_id!r} is {len(key)} bytes, expected 32 (AES-256)")
    return key


# --------------------------------------------------------------------------- KMS client


def wrap(master_key: bytes, key_id: str, key_bytes: bytes) -> str:
    """base64(nonce || AES-256-GCM(key_bytes) || tag), AAD = key_id."""
    nonce = os.urandom(NONCE_LEN)
    ct_tag = AESGCM(master_key).encrypt(nonce, bytes(key_bytes), key_id.encode("utf-8"))
    return base64.b64encode(nonce + ct_tag).decode("ascii")


def unwrap(master_key: bytes, key_id: str, wrapped_key) -> bytes:
    if isinstance(wrapped_key, str):
        wrapped_key = wrapped_key.encode("ascii")
    try:
        blob = base64.b64decode(wrapped_key, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ReadError(f"wrapped key for {key_id!r} is not valid base64: {e}")
    if len(blob) < NONCE_LEN + TAG_LEN:
        raise ReadError(f"wrapped key for {key_id!r} is too short ({len(blob)} bytes)")
    try:
        return AESGCM(master_key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], key_id.encode("utf-8"))
    except InvalidTag:
        raise ReadError(f"cannot unwrap key under {key_id!r}: authentication failed (wrong master key or tampered key metadata)")


class LagoaKmsClient(pe.KmsClient):
    """KmsClient backed by Lagoa's local key store (or a dict of raw keys, for tests)."""

    def __init__(self, keystore_path: str | None = None, keys: dict | None = None,
                 seal_key_file: str | None = None):
        pe.KmsClient.__init__(self)
        if (keystore_path is None) == (keys is None):
            raise ValueError("give exactly one of keystore_path or keys")
        self._path = keystore_path or "<in-memory>"
        if keys is not None:
            self._doc = {
                "format": UNSEALED_FORMAT,
                "keys": {k: {"key": base64.b64encode(v).decode()} for k, v in keys.items()},
                "_seal_key": None,
            }
        else:
            self._doc = load_keystore(keystore_path, seal_key_file)
        self.last_error: str | None = None

    def _key(self, key_id: str) -> bytes:
        master_id, _, column = key_id.partition("#")
        key = _master_key(self._doc, master_id, self._path)
        if column:
            key = hmac.new(key, b"lagoa column key\0" + column.encode("utf-8"), hashlib.sha256).digest()
        return key

    def wrap_key(self, key_bytes, master_key_identifier):
        try:
            return wrap(self._key(master_key_identifier), master_key_identifier, key_bytes)
        except ReadError as e:
            self.last_error = str(e)
            raise

    def unwrap_key(self, wrapped_key, master_key_identifier):
        try:
            return unwrap(self._key(master_key_identifier), master_key_identifier, wrapped_key)
        except ReadError as e:
            self.last_error = str(e)
            raise


def kms_connection_config(keystore_path: str, seal_key_file: str | None = None) -> "pe.KmsConnectionConfig":
    conf = {KEYSTORE_CONF_KEY: os.path.abspath(keystore_path)}
    if seal_key_file:
        conf[SEAL_KEY_FILE_CONF_KEY] = os.path.abspath(seal_key_file)
    return pe.KmsConnectionConfig(kms_instance_id="lagoa-local", custom_kms_conf=conf)


def crypto_factory(clients: list | None = None) -> "pe.CryptoFactory":
    """CryptoFactory whose KMS clients read the key store named in the connection config.

    Every client created is appended to `clients` (if given) so callers can report
    the KMS client's own error message, which PyArrow may shorten.
    """

    def factory(config):
        path = config.custom_kms_conf.get(KEYSTORE_CONF_KEY)
        if not path:
            raise ReadError(f"KmsConnectionConfig lacks custom_kms_conf[{KEYSTORE_CONF_KEY!r}]")
        client = LagoaKmsClient(keystore_path=path, seal_key_file=config.custom_kms_conf.get(SEAL_KEY_FILE_CONF_KEY))
        if clients is not None:
            clients.append(client)
        return client

    return pe.CryptoFactory(factory)


# --------------------------------------------------------------------------- reading


def read_table(keystore: str, file: str, columns: list[str] | None = None,
               seal_key_file: str | None = None) -> "pa.Table":
    if not os.path.isfile(file):
        raise ReadError(f"parquet file not found: {file}")
    load_keystore(keystore, seal_key_file)  # fail early and clearly on a bad key store
    clients: list = []
    factory = crypto_factory(clients)
    props = factory.file_decryption_properties(
        kms_connection_config(keystore, seal_key_file),
        pe.DecryptionConfiguration(cache_lifetime=_dt.timedelta(minutes=5)),
    )
    try:
        pf = pq.ParquetFile(file, decryption_properties=props)
        if columns:
            names = pf.schema_arrow.names
            missing = [c for c in columns if c not in names]
            if missing:
                raise ReadError(f"no such column(s) {', '.join(missing)}; file has: {', '.join(names)}")
        return pf.read(columns=columns or None)
    except ReadError:
        raise
    except Exception as e:  # pyarrow raises OSError/ArrowException/etc.
        detail = next((c.last_error for c in clients if c.last_error), None)
        msg = f"cannot read {file}: {type(e).__name__}: {e}"
        if detail and detail not in msg:
            msg += f" [KMS: {detail}]"
        raise ReadError(msg)


def _jsonable(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (decimal.Decimal, _dt.date, _dt.datetime, _dt.time, _dt.timedelta)):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def _sort_key(row: dict):
    # None sorts before any string (including the empty string).
    return tuple((0, "") if v is None else (1, v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)) for v in row.values())


def table_to_json_lines(table: "pa.Table") -> list[str]:
    rows = [{k: _jsonable(v) for k, v in r.items()} for r in table.to_pylist()]
    rows.sort(key=_sort_key)
    return [json.dumps(r, ensure_ascii=False) for r in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Read a Lagoa encrypted Parquet file with PyArrow's key tools.")
    ap.add_argument("--keystore", required=True, help="path to keys/keystore.json")
    ap.add_argument("--seal-key-file", help="the seal key file (default: the one the key store names)")
    ap.add_argument("--file", required=True, help="encrypted Parquet file")
    ap.add_argument("--columns", help="comma-separated columns to read (default: all)")
    args = ap.parse_args(argv)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    try:
        table = read_table(args.keystore, args.file, columns, args.seal_key_file)
        out = "\n".join(table_to_json_lines(table))
    except ReadError as e:
        _die(str(e))
    except Exception as e:
        _die(f"{type(e).__name__}: {e}")
    sys.stdout.reconfigure(encoding="utf-8")
    if out:
        sys.stdout.write(out + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without the interpreter's teardown: PyArrow's crypto factory
    # keeps its KMS client (a Python object) in a C++ cache, and tearing the
    # two down in the wrong order now and then aborts the process ("terminate
    # called without an active exception") after the rows were written.
    os._exit(code)
