"""Personal data sealed in Temporal: an AES-GCM payload codec, so national IDs, names and incomes never
sit in Temporal's history (or its database file) in plaintext. Failure messages are encoded too.

Keys: ``DOUDI_CODEC_KEYS`` = ``kid:base64key[,kid:base64key...]``; the first encrypts, all decrypt (key
rotation: put the new key first, keep the old ones until their histories have closed). In the embedded
default, without that variable, the supervisor generates a key once into ``<data dir>/codec-keys.json``
(mode 0600, ``create_keys``) before any service starts, so every process of the stack shares it and a
restart can still read old histories; services only read it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadCodec

from shared.infra.secrets import create_once, read_secret

ENCODING = b"binary/doudi-aes-gcm"


class AesGcmCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes], current: str):
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._current = current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            sealed = self._keys[self._current].encrypt(nonce, p.SerializeToString(), self._current.encode())
            out.append(Payload(metadata={"encoding": ENCODING, "encryption-key-id": self._current.encode()},
                               data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # recorded before sealing was on, or by another converter: pass through
                continue
            kid = p.metadata["encryption-key-id"].decode()
            if kid not in self._keys:
                raise ValueError(f"payload sealed with unknown key {kid!r}: add it to DOUDI_CODEC_KEYS")
            plain = self._keys[kid].decrypt(p.data[:12], p.data[12:], kid.encode())
            decoded = Payload()
            decoded.ParseFromString(plain)
            out.append(decoded)
        return out


def load_keys(spec: str | None, data_dir: Path | None) -> tuple[dict[str, bytes], str]:
    if spec:
        pairs = [item.split(":", 1) for item in spec.split(",") if item.strip()]
        keys = {kid.strip(): base64.b64decode(key) for kid, key in pairs}
        if any(len(k) not in (16, 24, 32) for k in keys.values()):
            raise ValueError("DOUDI_CODEC_KEYS: every key must be 16, 24 or 32 bytes (base64)")
        return keys, pairs[0][0].strip()
    if data_dir is None:
        raise ValueError("set DOUDI_CODEC_KEYS (or a data folder for the embedded default)")
    # services only read the key: the supervisor created it before starting any of them (create_keys)
    stored = json.loads(read_secret(data_dir / KEYS_FILE, "the Temporal payload key"))
    return {kid: base64.b64decode(k) for kid, k in stored["keys"].items()}, stored["current"]


KEYS_FILE = "codec-keys.json"


def create_keys(data_dir: Path) -> bool:
    """The embedded default's key, generated once into ``<data dir>/codec-keys.json`` (0600) by the
    supervisor before any service starts. True when this call created it."""
    return create_once(data_dir / KEYS_FILE, lambda: json.dumps(
        {"current": "k1", "keys": {"k1": base64.b64encode(AESGCM.generate_key(256)).decode()}}))


class SealedFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces travel as (sealed) payloads, not as plain history fields."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def sealed(converter: DataConverter, codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(converter, payload_codec=codec, failure_converter_class=SealedFailureConverter)
