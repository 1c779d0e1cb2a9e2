"""Signed principal assertions: who sends a human update to a case's workflow, verified by the workflow.

A person acts on a case (a decision, an opinion, documents, a retry) through an HTTP route; the route
knows who they are (their token, and the officials registry for an official's own person id). Temporal
does not: anyone who can reach the Temporal frontend can send an update with any payload. So the route
signs what it knows, for this case, this update and this body, for a few minutes:

    claims  = {subject, role, region, person_id, case_id, update, body_digest, expires_at, key_id}
    body    = the update's JSON body without the assertion (canonical: sorted keys, no spaces)
    sig     = Ed25519(private key, canonical(claims))

and the workflow's update validator verifies it deterministically (``verify``): the signature with a
public key of the keyring, the case and the update name, the digest of the body, the body against the
update's own argument, the expiry against ``workflow.now()``. The role, jurisdiction and person id a
validator checks are the signed ones; unsigned role fields in a payload are refused.

Keys (ADR docs/adr/0014-signed-principal-assertions.md): the private key only where HTTP requests are
served (``DOUDI_ASSERTION_SIGNING_KEY`` or ``<data dir>/assertion-signing-key`` created once, 0600, by
the supervisor); the worker installs the public keys (``DOUDI_ASSERTION_VERIFY_KEYS`` or derived from
the same file) into this module's keyring with ``trust`` before it polls. This module is passed through
the workflow sandbox, so workflows read the keyring the worker installed. Validators never run on
replay, so rotating keys cannot make a history non-deterministic.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from pydantic import BaseModel, Field

SIGNING_KEY_FILE = "assertion-signing-key"  # in the data folder: base64 of the 32-byte Ed25519 seed, 0600
DEFAULT_TTL = timedelta(minutes=10)  # covers a worker restart under load; an update is answered in seconds


class Signatory(BaseModel):
    """Who acts, as the route established it (token, and the officials registry for ``person_id``)."""

    subject: str
    role: str
    region: str = ""  # jurisdiction prefix; "" = every region (an explicit province-wide claim)
    person_id: str | None = None  # the official's own national ID, from the officials registry only


class PrincipalClaims(Signatory):
    """The signed part of an assertion."""

    case_id: str
    update: str
    body_digest: str  # sha256 hex of ``Assertion.body``
    expires_at: datetime
    key_id: str


class Assertion(BaseModel):
    claims: PrincipalClaims
    body: str = Field(description="the update's body as signed: canonical JSON without the assertion")
    signature: str  # base64 Ed25519 over canonical(claims)


class AssertionRefused(ValueError):
    """The update carries no valid assertion for this case and update (the validator's answer)."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id_of(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def _body_of(arg: BaseModel | dict[str, Any]) -> dict[str, Any]:
    if isinstance(arg, BaseModel):
        return arg.model_dump(mode="json", exclude={"assertion"})
    return {k: v for k, v in json.loads(canonical(arg)).items() if k != "assertion"}


# ---- the front door's side ---------------------------------------------------------------------------


class AssertionSigner:
    def __init__(self, private: Ed25519PrivateKey, *, ttl: timedelta = DEFAULT_TTL):
        self._private = private
        self.key_id = key_id_of(private.public_key())
        self._ttl = ttl

    def public_key(self) -> Ed25519PublicKey:
        return self._private.public_key()

    def assertion(self, who: Signatory, *, case_id: str, update: str, body: dict[str, Any],
                  now: datetime | None = None) -> Assertion:
        body_json = canonical(_body_of(body)).decode()
        claims = PrincipalClaims(**who.model_dump(), case_id=case_id, update=update,
                                 body_digest=hashlib.sha256(body_json.encode()).hexdigest(),
                                 expires_at=(now or datetime.now(UTC)) + self._ttl, key_id=self.key_id)
        signature = self._private.sign(canonical(claims.model_dump(mode="json")))
        return Assertion(claims=claims, body=body_json, signature=base64.b64encode(signature).decode())

    def sign(self, who: Signatory, *, case_id: str, update: str, body: dict[str, Any] | BaseModel,
             now: datetime | None = None) -> dict[str, Any]:
        """The update's argument: ``body`` (as JSON) with its ``assertion``."""
        plain = _body_of(body)
        assertion = self.assertion(who, case_id=case_id, update=update, body=plain, now=now)
        return {**plain, "assertion": assertion.model_dump(mode="json")}


def _seed_file(data_dir: Path) -> Path:
    return data_dir / SIGNING_KEY_FILE


def create_signing_key(data_dir: Path) -> bool:
    """The embedded default's signing key, created once (0600, first writer wins) by the supervisor
    beside the other secrets. True when this call created it."""
    from shared.infra.secrets import create_once

    return create_once(_seed_file(data_dir), lambda: base64.b64encode(os.urandom(32)).decode() + "\n")


def _private_from(seed_b64: str) -> Ed25519PrivateKey:
    seed = base64.b64decode(seed_b64.strip(), validate=True)
    if len(seed) != 32:
        raise ValueError("an Ed25519 signing key is 32 bytes (base64)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_signer(seed_b64: str | None, data_dir: Path | None) -> AssertionSigner:
    """``DOUDI_ASSERTION_SIGNING_KEY`` if set, else the data folder's key (created on first use,
    atomically, if the supervisor has not: a test process, a service started by hand)."""
    if seed_b64:
        return AssertionSigner(_private_from(seed_b64))
    if data_dir is None:
        raise ValueError("set DOUDI_ASSERTION_SIGNING_KEY (or a data folder for the embedded default)")
    create_signing_key(data_dir)
    return AssertionSigner(_private_from(_seed_file(data_dir).read_text()))


def public_keys_from(spec: str | None, data_dir: Path | None) -> dict[str, Ed25519PublicKey]:
    """``DOUDI_ASSERTION_VERIFY_KEYS`` (``kid:base64,...``: every key still trusted, for rotation), else
    the public half of the data folder's signing key."""
    if spec:
        keys = {}
        for item in spec.split(","):
            if item.strip():
                kid, raw = item.split(":", 1)
                keys[kid.strip()] = Ed25519PublicKey.from_public_bytes(base64.b64decode(raw.strip(), validate=True))
        return keys
    signer = load_signer(None, data_dir)
    return {signer.key_id: signer.public_key()}


def public_key_spec(public: Ed25519PublicKey) -> str:
    """``kid:base64`` of a public key, the form ``DOUDI_ASSERTION_VERIFY_KEYS`` takes."""
    return f"{key_id_of(public)}:{base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()}"


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_b64(private: Ed25519PrivateKey) -> str:
    return base64.b64encode(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


# ---- the workflow's side (deterministic: no I/O, no clock but the one passed in) ----------------------

_KEYRING: dict[str, Ed25519PublicKey] = {}


def trust(keys: dict[str, Ed25519PublicKey]) -> None:
    """The worker installs the public keys before it polls (the process's keyring, replaced)."""
    _KEYRING.clear()
    _KEYRING.update(keys)


def verify(arg: BaseModel, *, case_id: str, update: str, now: datetime,
           keyring: dict[str, Ed25519PublicKey] | None = None) -> PrincipalClaims:
    """The verified claims of ``arg``'s assertion, or ``AssertionRefused`` naming what is wrong.
    ``keyring``: the installed one (``trust``) unless given."""
    assertion = getattr(arg, "assertion", None)
    if assertion is None:
        raise AssertionRefused(f"{update}: unsigned (no principal assertion from the front door); "
                               "role fields in a payload are not trusted")
    if not isinstance(assertion, Assertion):  # a copy of this class from another import of the module
        assertion = Assertion.model_validate(
            assertion.model_dump(mode="json") if isinstance(assertion, BaseModel) else assertion)
    claims = assertion.claims
    public = (_KEYRING if keyring is None else keyring).get(claims.key_id)
    if public is None:
        raise AssertionRefused(f"{update}: signed with an unknown key {claims.key_id!r}")
    try:
        public.verify(base64.b64decode(assertion.signature, validate=True), canonical(claims.model_dump(mode="json")))
    except (InvalidSignature, ValueError):
        raise AssertionRefused(f"{update}: the principal assertion's signature is not valid") from None
    if claims.case_id != case_id:
        raise AssertionRefused(f"{update}: the assertion was signed for case {claims.case_id}, not {case_id}")
    if claims.update != update:
        raise AssertionRefused(f"{update}: the assertion was signed for update {claims.update!r}")
    if hashlib.sha256(assertion.body.encode()).hexdigest() != claims.body_digest:
        raise AssertionRefused(f"{update}: the signed body does not match its digest")
    try:
        signed = type(arg).model_validate_json(assertion.body)
    except ValueError:
        raise AssertionRefused(f"{update}: the signed body is not a valid {type(arg).__name__}") from None
    if signed.model_dump(mode="json", exclude={"assertion"}) != arg.model_dump(mode="json", exclude={"assertion"}):
        raise AssertionRefused(f"{update}: the body differs from the one signed (tampered)")
    if now >= claims.expires_at:
        raise AssertionRefused(f"{update}: the principal assertion expired at {claims.expires_at.isoformat()}")
    return claims


# ---- this process's keys -------------------------------------------------------------------------------

_SIGNER: AssertionSigner | None = None


def signer() -> AssertionSigner:
    """This process's signer (a service that serves HTTP): ``DOUDI_ASSERTION_SIGNING_KEY``, or the data
    folder's key in the embedded default. Outside it the variable is required."""
    global _SIGNER
    if _SIGNER is None:
        from shared.config import get_settings

        settings = get_settings()
        seed = os.environ.get("DOUDI_ASSERTION_SIGNING_KEY")
        if not seed and settings.env == "production":
            raise ValueError("DOUDI_ASSERTION_SIGNING_KEY must be set outside the embedded default")
        _SIGNER = load_signer(seed, settings.data_dir)
    return _SIGNER


def trust_configured_keys() -> dict[str, Ed25519PublicKey]:
    """The worker's keyring: ``DOUDI_ASSERTION_VERIFY_KEYS``, or the public half of the data folder's
    key in the embedded default. Installed with ``trust``; returned for the log."""
    from shared.config import get_settings

    settings = get_settings()
    spec = os.environ.get("DOUDI_ASSERTION_VERIFY_KEYS")
    if not spec and settings.env == "production":
        raise ValueError("DOUDI_ASSERTION_VERIFY_KEYS must be set outside the embedded default")
    keys = public_keys_from(spec, settings.data_dir)
    trust(keys)
    return keys
