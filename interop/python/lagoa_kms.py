#!/usr/bin/env python3
"""PyArrow's key tools reading a Lagoa lake whose master keys are in a KMS.

Lagoa writes Parquet Modular Encryption in the Parquet key-management-tools
format (double wrapping, internal key material). With `keys.provider = "kms"`
each master key is a KMS key behind the alias
`alias/<prefix><dataset>/<purpose>/v<N>`, and each key-encryption key is
wrapped with the AWS KMS API's `Encrypt`, bound to the id it is stored under:

    wrapped_key = "kms:1:" + base64(CiphertextBlob)
    Encrypt/Decrypt EncryptionContext = {"lagoa:key": <master key id, column included>}

`LagoaKmsClient` is the `pyarrow.parquet.encryption.KmsClient` that does the
same with boto3, so an analyst's PyArrow, pandas or DuckDB-through-Arrow reads
the files the KMS lets them read. Credentials come from boto3's usual chain
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role); the
KMS decides who may `Decrypt` under which key, and logs it.

Usage as a program (one JSON object per row on stdout):

    python lagoa_kms.py --endpoint https://kms.example.gov.br --region sa-east-1 \\
        --alias-prefix lagoa/ --file part-0.parquet [--columns a,b]

As a module:

    import lagoa_kms
    table = lagoa_kms.read_table("part-0.parquet", endpoint="https://kms.example.gov.br")

Only boto3 and pyarrow are needed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

WRAP_PREFIX = "kms:1:"
CONTEXT_KEY = "lagoa:key"
# Lagoa writes this as the files' KMS instance id.
KMS_INSTANCE_ID = "lagoa"


def alias_of(master_key_identifier: str, alias_prefix: str) -> str:
    """`lagoa.<dataset>.<purpose>.v<N>[#column]` -> `alias/<prefix><dataset>/<purpose>/v<N>`."""
    stored = master_key_identifier.split("#", 1)[0]
    parts = stored.split(".")
    if len(parts) < 4 or parts[0] != "lagoa" or not parts[-1][1:].isdigit() or parts[-1][0] != "v":
        raise ValueError(f"{master_key_identifier!r} is not a Lagoa master key id")
    dataset, purpose, version = ".".join(parts[1:-2]), parts[-2], parts[-1][1:]
    return f"alias/{alias_prefix}{dataset}/{purpose}/v{version}"


class LagoaKmsClient(pe.KmsClient):
    """Wraps and unwraps key-encryption keys with a service speaking the AWS KMS API."""

    def __init__(self, endpoint: str | None, region: str = "us-east-1", alias_prefix: str = "lagoa/",
                 session: "boto3.session.Session | None" = None):
        pe.KmsClient.__init__(self)
        self._kms = (session or boto3.session.Session()).client(
            "kms", endpoint_url=endpoint, region_name=region)
        self._prefix = alias_prefix

    def wrap_key(self, key_bytes, master_key_identifier):
        answer = self._kms.encrypt(
            KeyId=alias_of(master_key_identifier, self._prefix),
            Plaintext=bytes(key_bytes),
            EncryptionContext={CONTEXT_KEY: master_key_identifier},
        )
        return WRAP_PREFIX + base64.b64encode(answer["CiphertextBlob"]).decode("ascii")

    def unwrap_key(self, wrapped_key, master_key_identifier):
        if isinstance(wrapped_key, (bytes, bytearray)):
            wrapped_key = bytes(wrapped_key).decode("ascii")
        if not wrapped_key.startswith(WRAP_PREFIX):
            raise ValueError(f"the key under {master_key_identifier} was not wrapped by a KMS")
        answer = self._kms.decrypt(
            KeyId=alias_of(master_key_identifier, self._prefix),
            CiphertextBlob=base64.b64decode(wrapped_key[len(WRAP_PREFIX):]),
            EncryptionContext={CONTEXT_KEY: master_key_identifier},
        )
        return answer["Plaintext"]


def crypto_factory(endpoint: str | None, region: str = "us-east-1", alias_prefix: str = "lagoa/") -> pe.CryptoFactory:
    return pe.CryptoFactory(lambda _config: LagoaKmsClient(endpoint, region, alias_prefix))


def read_table(path: str, endpoint: str | None, region: str = "us-east-1", alias_prefix: str = "lagoa/",
               columns: list[str] | None = None) -> pa.Table:
    """One Lagoa data file, decrypted with the keys the KMS releases."""
    properties = crypto_factory(endpoint, region, alias_prefix).file_decryption_properties(
        pe.KmsConnectionConfig(kms_instance_id=KMS_INSTANCE_ID),
        pe.DecryptionConfiguration(cache_lifetime=dt.timedelta(minutes=10)),
    )
    return pq.ParquetFile(path, decryption_properties=properties).read(columns=columns)


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Read a Lagoa data file whose master keys are in a KMS.")
    ap.add_argument("--endpoint", help="the KMS address (default: boto3's)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--alias-prefix", default="lagoa/", help="the lake's keys.kms_alias_prefix")
    ap.add_argument("--file", required=True)
    ap.add_argument("--columns", help="comma-separated columns (default: all)")
    args = ap.parse_args(argv)
    columns = [c for c in args.columns.split(",") if c] if args.columns else None
    try:
        table = read_table(args.file, args.endpoint, args.region, args.alias_prefix, columns)
    except Exception as e:  # pyarrow and boto3 raise many kinds; the message is what matters
        print(f"lagoa_kms: cannot read {args.file}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for row in table.to_pylist():
        print(json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
