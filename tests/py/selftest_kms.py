#!/usr/bin/env python3
"""Self-test of the Python half of Lagoa's Parquet interoperability.

Writes an encrypted Parquet file with PyArrow's CryptoFactory and the same KMS
client read_encrypted.py uses (footer key `lagoa.t.data.v1`, column key
`lagoa.t.pessoal.v1` on `cpf`, double wrapping), then reads it back by running
read_encrypted.py as a subprocess, and checks the failure paths.

Run: .venv/bin/python tests/py/selftest_kms.py     (no arguments; exits non-zero on failure)
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pyarrow.parquet.encryption as pe  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

import read_encrypted as re_mod  # noqa: E402

READER = os.path.join(HERE, "read_encrypted.py")
FOOTER_KEY = "lagoa.t.data.v1"
PESSOAL_KEY = "lagoa.t.pessoal.v1"


def write_keystore(path: str, keys: dict[str, bytes], shredded: dict | None = None) -> None:
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    doc = {
        "format": re_mod.UNSEALED_FORMAT,
        "keys": {k: {"key": base64.b64encode(v).decode(), "created_at": now} for k, v in keys.items()},
        "shredded": shredded or {},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)


def sample_table() -> pa.Table:
    return pa.table(
        {
            "municipio": pa.array(["000123", "355030", "330455", "000123"], pa.string()),
            "data_obito": pa.array([dt.date(2023, 1, 5), dt.date(2022, 12, 31), dt.date(2023, 7, 1), None], pa.date32()),
            "idade": pa.array([71, 5, 88, 40], pa.int32()),
            "valor": pa.array([decimal.Decimal("1234.56"), decimal.Decimal("0.10"), None, decimal.Decimal("99.00")], pa.decimal128(12, 2)),
            "cpf": pa.array(["01234567890", "98765432100", "00000000191", "11144477735"], pa.string()),
            "nome": pa.array(["José da Silva", "Ana", "Conceição", "Zé"], pa.string()),
        }
    )


def write_encrypted(path: str, table: pa.Table, keystore: str, plaintext_footer: bool = False,
                    column_keys: dict | None = None) -> None:
    factory = re_mod.crypto_factory()
    enc_cfg = pe.EncryptionConfiguration(
        footer_key=FOOTER_KEY,
        column_keys=column_keys or {PESSOAL_KEY: ["cpf"]},
        encryption_algorithm="AES_GCM_V1",
        double_wrapping=True,
        plaintext_footer=plaintext_footer,
        data_key_length_bits=256,
    )
    props = factory.file_encryption_properties(re_mod.kms_connection_config(keystore), enc_cfg)
    with pq.ParquetWriter(path, table.schema, encryption_properties=props) as w:
        w.write_table(table)


def run_reader(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, READER, *args], capture_output=True, text=True, encoding="utf-8")


def expected_lines(table: pa.Table, columns=None) -> list[str]:
    if columns:
        table = table.select(columns)
    return re_mod.table_to_json_lines(table)


# --------------------------------------------------------------------------- tests


class Ctx:
    def __init__(self, tmp: str):
        self.tmp = tmp
        self.keys = {FOOTER_KEY: os.urandom(32), PESSOAL_KEY: os.urandom(32)}
        self.keystore = os.path.join(tmp, "keystore.json")
        write_keystore(self.keystore, self.keys)
        self.table = sample_table()
        self.file = os.path.join(tmp, "t.parquet")
        write_encrypted(self.file, self.table, self.keystore)


def test_file_is_really_encrypted(c: Ctx):
    raw = open(c.file, "rb").read()
    assert raw[-4:] == b"PARE", f"expected encrypted-footer magic PARE, got {raw[-4:]!r}"
    # Only columns named in column_keys are encrypted: here cpf. In Parquet modular
    # encryption (non-uniform mode) the pages of unlisted columns (municipio, nome, ...)
    # stay in plaintext even though the footer is encrypted; see the next test.
    for needle in (b"01234567890", b"98765432100", b"00000000191"):
        assert needle not in raw, f"plaintext {needle!r} found in encrypted file"
    try:
        pq.read_table(c.file)
    except Exception:
        pass
    else:
        raise AssertionError("reading without decryption properties should fail")


def test_all_columns_keyed_variant(c: Ctx):
    """Non-personal columns listed under the footer (data) master key: no plaintext left."""
    f = os.path.join(c.tmp, "all.parquet")
    others = [n for n in c.table.column_names if n not in ("cpf", "nome")]
    write_encrypted(f, c.table, c.keystore, column_keys={FOOTER_KEY: others, PESSOAL_KEY: ["cpf", "nome"]})
    raw = open(f, "rb").read()
    for needle in (b"01234567890", "José".encode(), b"Ana", b"355030", b"000123"):
        assert needle not in raw, f"plaintext {needle!r} found in fully keyed file"
    p = run_reader("--keystore", c.keystore, "--file", f)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == expected_lines(c.table)


def test_reader_round_trip(c: Ctx):
    p = run_reader("--keystore", c.keystore, "--file", c.file)
    assert p.returncode == 0, f"reader failed: {p.stderr}"
    got = p.stdout.splitlines()
    want = expected_lines(c.table)
    assert got == want, f"\n got: {got}\nwant: {want}"
    first = json.loads(got[0])
    assert list(first) == ["municipio", "data_obito", "idade", "valor", "cpf", "nome"]
    # Sorted by string values: municipio "000123" rows first; dates and decimals as strings.
    assert first["municipio"] == "000123" and first["cpf"] in ("01234567890", "11144477735")
    rows = [json.loads(line) for line in got]
    assert {"municipio": "355030", "data_obito": "2022-12-31", "idade": 5, "valor": "0.10",
            "cpf": "98765432100", "nome": "Ana"} in rows
    assert any(r["nome"] == "José da Silva" and r["valor"] == "1234.56" for r in rows)


def test_reader_columns(c: Ctx):
    p = run_reader("--keystore", c.keystore, "--file", c.file, "--columns", "cpf,idade")
    assert p.returncode == 0, p.stderr
    got = p.stdout.splitlines()
    assert got == expected_lines(c.table, ["cpf", "idade"]), got
    assert list(json.loads(got[0])) == ["cpf", "idade"]


def test_non_personal_columns_without_pessoal_key(c: Ctx):
    ks = os.path.join(c.tmp, "no-pessoal.json")
    write_keystore(ks, {FOOTER_KEY: c.keys[FOOTER_KEY]})
    p = run_reader("--keystore", ks, "--file", c.file, "--columns", "municipio,idade")
    assert p.returncode == 0, f"non-personal columns should read without the pessoal key: {p.stderr}"
    assert p.stdout.splitlines() == expected_lines(c.table, ["municipio", "idade"])
    p = run_reader("--keystore", ks, "--file", c.file, "--columns", "cpf")
    assert p.returncode != 0, "reading cpf without the pessoal key must fail"
    assert "read_encrypted: error:" in p.stderr and PESSOAL_KEY in p.stderr, p.stderr


def test_wrong_master_key_fails(c: Ctx):
    ks = os.path.join(c.tmp, "wrong.json")
    write_keystore(ks, {FOOTER_KEY: os.urandom(32), PESSOAL_KEY: c.keys[PESSOAL_KEY]})
    p = run_reader("--keystore", ks, "--file", c.file)
    assert p.returncode != 0 and p.stdout == "", (p.returncode, p.stdout)
    assert "read_encrypted: error:" in p.stderr and "authentication failed" in p.stderr, p.stderr


def test_shredded_dataset_message(c: Ctx):
    ks = os.path.join(c.tmp, "shredded.json")
    write_keystore(ks, {}, shredded={"t": "2026-11-22T00:00:00Z"})
    p = run_reader("--keystore", ks, "--file", c.file)
    assert p.returncode != 0, p.stdout
    assert "shredded" in p.stderr, p.stderr


def test_bad_inputs(c: Ctx):
    p = run_reader("--keystore", os.path.join(c.tmp, "missing.json"), "--file", c.file)
    assert p.returncode != 0 and "key store not found" in p.stderr, p.stderr
    p = run_reader("--keystore", c.keystore, "--file", os.path.join(c.tmp, "missing.parquet"))
    assert p.returncode != 0 and "parquet file not found" in p.stderr, p.stderr
    p = run_reader("--keystore", c.keystore, "--file", c.file, "--columns", "nope")
    assert p.returncode != 0 and "no such column" in p.stderr, p.stderr
    bad = os.path.join(c.tmp, "bad-format.json")
    with open(bad, "w") as f:
        json.dump({"format": "other/9", "keys": {}}, f)
    p = run_reader("--keystore", bad, "--file", c.file)
    assert p.returncode != 0 and "unsupported key store format" in p.stderr, p.stderr


def test_wrap_format_matches_interfaces_md(c: Ctx):
    """A key wrapped by hand per docs/interfaces.md unwraps through the client, and vice versa."""
    client = re_mod.LagoaKmsClient(keystore_path=c.keystore)
    mk = c.keys[FOOTER_KEY]
    dek = os.urandom(16)
    nonce = os.urandom(12)
    by_hand = base64.b64encode(nonce + AESGCM(mk).encrypt(nonce, dek, FOOTER_KEY.encode())).decode()
    assert client.unwrap_key(by_hand, FOOTER_KEY) == dek
    assert client.unwrap_key(by_hand.encode(), FOOTER_KEY) == dek
    w = base64.b64decode(client.wrap_key(dek, FOOTER_KEY))
    assert len(w) == 12 + len(dek) + 16
    assert AESGCM(mk).decrypt(w[:12], w[12:], FOOTER_KEY.encode()) == dek
    # AAD binds the master key identifier: the same blob under another id must fail.
    other = re_mod.LagoaKmsClient(keys={"lagoa.u.data.v1": mk})
    try:
        other.unwrap_key(by_hand, "lagoa.u.data.v1")
    except re_mod.ReadError:
        pass
    else:
        raise AssertionError("unwrap with a different master key identifier (AAD) must fail")


def test_plaintext_footer_file(c: Ctx):
    f = os.path.join(c.tmp, "pf.parquet")
    write_encrypted(f, c.table, c.keystore, plaintext_footer=True)
    p = run_reader("--keystore", c.keystore, "--file", f)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == expected_lines(c.table)


def write_sealed_keystore(path: str, keys: dict[str, bytes], seal_key: bytes, seal: dict) -> None:
    """A format-2 store as Lagoa writes it (docs/interfaces.md)."""

    def sealed(plain: bytes, aad: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + AESGCM(seal_key).encrypt(nonce, plain, aad)).decode()

    doc = {
        "format": re_mod.SEALED_FORMAT,
        "seal": {**seal, "check": sealed(b"lagoa key store seal", b"lagoa-seal-check")},
        "keys": {k: {"sealed": sealed(v, f"lagoa-seal:{k}".encode()), "created_at": "2026-12-06T00:00:00Z"}
                 for k, v in keys.items()},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def test_sealed_keystore_by_key_file(c: Ctx):
    seal_key = os.urandom(32)
    key_file = os.path.join(c.tmp, "seal.key")
    with open(key_file, "w") as f:
        f.write(base64.b64encode(seal_key).decode() + "\n")
    ks = os.path.join(c.tmp, "sealed.json")
    write_sealed_keystore(ks, c.keys, seal_key, {"kind": "key-file", "key_file": key_file})
    assert base64.b64encode(c.keys[FOOTER_KEY]).decode() not in open(ks).read()
    p = run_reader("--keystore", ks, "--file", c.file)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == expected_lines(c.table)
    # Another seal key file: refused as a wrong seal, not as a damaged file.
    other = os.path.join(c.tmp, "other.key")
    with open(other, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode())
    p = run_reader("--keystore", ks, "--seal-key-file", other, "--file", c.file)
    assert p.returncode != 0 and "wrong key file or passphrase" in p.stderr, p.stderr


def test_sealed_keystore_by_passphrase(c: Ctx):
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    salt = os.urandom(16)
    kdf = {"algorithm": "argon2id", "memory_kib": 8192, "iterations": 1, "parallelism": 1,
           "salt": base64.b64encode(salt).decode()}
    seal_key = Argon2id(salt=salt, length=32, iterations=1, lanes=1, memory_cost=8192).derive(b"senha forte")
    ks = os.path.join(c.tmp, "sealed-pass.json")
    write_sealed_keystore(ks, c.keys, seal_key, {"kind": "passphrase", "kdf": kdf})
    env = {**os.environ, "LAGOA_KEYSTORE_PASSPHRASE": "senha forte"}
    p = subprocess.run([sys.executable, READER, "--keystore", ks, "--file", c.file],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == expected_lines(c.table)
    env["LAGOA_KEYSTORE_PASSPHRASE"] = "senha errada"
    p = subprocess.run([sys.executable, READER, "--keystore", ks, "--file", c.file],
                       capture_output=True, text=True, env=env)
    assert p.returncode != 0 and "wrong key file or passphrase" in p.stderr, p.stderr
    assert "senha" not in p.stderr, "the passphrase never shows"


def main() -> int:
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="lagoa-selftest-kms-") as tmp:
        ctx = Ctx(tmp)
        for name, fn in tests:
            try:
                fn(ctx)
            except Exception:
                failed += 1
                print(f"FAIL {name}", flush=True)
                traceback.print_exc()
            else:
                passed += 1
                print(f"ok   {name}", flush=True)
    print(f"selftest_kms: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
