#!/usr/bin/env python3
"""Read a Lagoa-written encrypted Parquet file with PyArrow's standard key tools.

Usage:
    read_encrypted.py --keystore PATH --file PARQUET [--columns a,b]

Only the public `pyarrow.parquet.encryption` API is used (CryptoFactory,
KmsConnectionConfig, DecryptionConfiguration and a KmsClient subclass). The KMS
client loads Lagoa's local key store (keys/keystore.json) and unwraps keys in
the format of docs/interfaces.md:

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

KEYSTORE_FORMAT = "lagoa-local-keystore/1"
NONCE_LEN = 12
TAG_LEN = 16
KEYSTORE_CONF_KEY = "lagoa.keystore"


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


def load_keystore(path: str) -> dict:
    """Load and validate keys/keystore.json; returns the parsed document."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ReadError(f"key store not found: {path}")
    except (OSError, ValueError) as e:
        raise ReadError(f"cannot read key store {path}: {e}")
    if not isinstance(doc, dict) or doc.get("format") != KEYSTORE_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        raise ReadError(f"{path}: unsupported key store format {fmt!r}, expected {KEYSTORE_FORMAT!r}")
    if not isinstance(doc.get("keys"), dict):
        raise ReadError(f"{path}: key store has no 'keys' object")
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

    def __init__(self, keystore_path: str | None = None, keys: dict | None = None):
        pe.KmsClient.__init__(self)
        if (keystore_path is None) == (keys is None):
            raise ValueError("give exactly one of keystore_path or keys")
        self._path = keystore_path or "<in-memory>"
        if keys is not None:
            self._doc = {
                "format": KEYSTORE_FORMAT,
                "keys": {k: {"key": base64.b64encode(v).decode()} for k, v in keys.items()},
            }
        else:
            self._doc = load_keystore(keystore_path)
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


def kms_connection_config(keystore_path: str) -> "pe.KmsConnectionConfig":
    return pe.KmsConnectionConfig(
        kms_instance_id="lagoa-local",
        custom_kms_conf={KEYSTORE_CONF_KEY: os.path.abspath(keystore_path)},
    )


def crypto_factory(clients: list | None = None) -> "pe.CryptoFactory":
    """CryptoFactory whose KMS clients read the key store named in the connection config.

    Every client created is appended to `clients` (if given) so callers can report
    the KMS client's own error message, which PyArrow may shorten.
    """

    def factory(config):
        path = config.custom_kms_conf.get(KEYSTORE_CONF_KEY)
        if not path:
            raise ReadError(f"KmsConnectionConfig lacks custom_kms_conf[{KEYSTORE_CONF_KEY!r}]")
        client = LagoaKmsClient(keystore_path=path)
        if clients is not None:
            clients.append(client)
        return client

    return pe.CryptoFactory(factory)


# --------------------------------------------------------------------------- reading


def read_table(keystore: str, file: str, columns: list[str] | None = None) -> "pa.Table":
    if not os.path.isfile(file):
        raise ReadError(f"parquet file not found: {file}")
    load_keystore(keystore)  # fail early and clearly on a bad key store
    clients: list = []
    factory = crypto_factory(clients)
    props = factory.file_decryption_properties(
        kms_connection_config(keystore),
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
    ap.add_argument("--file", required=True, help="encrypted Parquet file")
    ap.add_argument("--columns", help="comma-separated columns to read (default: all)")
    args = ap.parse_args(argv)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    try:
        table = read_table(args.keystore, args.file, columns)
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
    sys.exit(main())
