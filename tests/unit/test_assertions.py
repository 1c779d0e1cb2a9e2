"""Signed principal assertions (shared/assertions.py): what a workflow's validator accepts and refuses.
Pure: no Temporal; the validator calls the same ``verify`` with workflow.now()."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared import assertions
from shared.assertions import AssertionRefused, AssertionSigner, Signatory, verify
from workflows.emergency_relief.inputs import CountyDecision

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SIGNER = AssertionSigner(assertions.new_private_key(), ttl=timedelta(minutes=10))
KEYRING = {SIGNER.key_id: SIGNER.public_key()}
OFFICIAL = Signatory(subject="county-1", role="county_approver", region="650102", person_id="650102197001010011")
BODY = {"approver": "county-1", "role": "county_approver", "approve": True, "amount_fen": 300000,
        "reason": "", "region": "650102", "person_id": "650102197001010011", "pay_from": None}


def signed_decision(**over) -> CountyDecision:
    kw = {"case_id": "er-1", "update": "decide", "body": BODY, "now": T0, **over}
    return CountyDecision.model_validate(SIGNER.sign(OFFICIAL, **kw))


def check(arg: CountyDecision, **over) -> assertions.PrincipalClaims:
    kw = {"case_id": "er-1", "update": "decide", "now": T0 + timedelta(minutes=1), "keyring": KEYRING, **over}
    return verify(arg, **kw)


def test_a_valid_assertion_yields_the_signed_principal():
    claims = check(signed_decision())
    assert (claims.subject, claims.role, claims.region, claims.person_id) == (
        "county-1", "county_approver", "650102", "650102197001010011")


def test_unsigned_is_refused():
    with pytest.raises(AssertionRefused, match="unsigned"):
        check(CountyDecision.model_validate(BODY))


def test_expired_is_refused_at_and_after_expiry():
    arg = signed_decision()
    check(arg, now=T0 + timedelta(minutes=10) - timedelta(microseconds=1))  # the last instant it holds
    with pytest.raises(AssertionRefused, match="expired"):
        check(arg, now=T0 + timedelta(minutes=10))


def test_signed_for_another_case_is_refused():
    with pytest.raises(AssertionRefused, match="case er-1, not er-2"):
        check(signed_decision(), case_id="er-2")


def test_signed_for_another_update_is_refused():
    with pytest.raises(AssertionRefused, match="signed for update 'decide'"):
        check(signed_decision(), update="resolve_ineligible")


def test_a_tampered_body_is_refused():
    arg = signed_decision()
    # the amount changed after signing (the payload the workflow receives is not what was signed)
    with pytest.raises(AssertionRefused, match="tampered"):
        check(arg.model_copy(update={"amount_fen": 777_777_777_777}))
    # the signed body itself changed: its digest no longer matches
    forged = arg.model_copy(deep=True)
    assert forged.assertion is not None
    forged.assertion.body = forged.assertion.body.replace("300000", "777777777777")
    with pytest.raises(AssertionRefused, match="digest"):
        check(forged)


def test_claims_changed_after_signing_break_the_signature():
    arg = signed_decision()
    assert arg.assertion is not None
    raised = arg.model_copy(deep=True)
    raised.assertion.claims.role = "admin"
    with pytest.raises(AssertionRefused, match="signature is not valid"):
        check(raised)


def test_a_key_outside_the_keyring_is_refused():
    other = AssertionSigner(assertions.new_private_key())
    arg = CountyDecision.model_validate(other.sign(OFFICIAL, case_id="er-1", update="decide", body=BODY, now=T0))
    with pytest.raises(AssertionRefused, match="unknown key"):
        check(arg)
    # and a signature by another key presented under the trusted key's id
    assert arg.assertion is not None
    arg.assertion.claims.key_id = SIGNER.key_id
    with pytest.raises(AssertionRefused, match="signature is not valid"):
        check(arg)


def test_garbage_signature_is_refused():
    arg = signed_decision()
    assert arg.assertion is not None
    arg.assertion.signature = base64.b64encode(b"x" * 64).decode()
    with pytest.raises(AssertionRefused, match="signature"):
        check(arg)
    arg.assertion.signature = "not base64!"
    with pytest.raises(AssertionRefused, match="signature"):
        check(arg)


def test_the_body_is_canonical_json_whatever_the_key_order():
    a = SIGNER.assertion(OFFICIAL, case_id="er-1", update="decide", body=dict(reversed(list(BODY.items()))), now=T0)
    b = SIGNER.assertion(OFFICIAL, case_id="er-1", update="decide", body=BODY, now=T0)
    assert a.body == b.body and json.loads(a.body) == BODY


def test_key_files_are_created_once_private_and_shared(tmp_path):
    assert assertions.create_signing_key(tmp_path)
    assert not assertions.create_signing_key(tmp_path)  # first writer wins
    assert (tmp_path / assertions.SIGNING_KEY_FILE).stat().st_mode & 0o777 == 0o600
    signer = assertions.load_signer(None, tmp_path)
    keys = assertions.public_keys_from(None, tmp_path)
    assert list(keys) == [signer.key_id]
    spec = assertions.public_key_spec(signer.public_key())
    assert list(assertions.public_keys_from(spec, None)) == [signer.key_id]


def test_one_token_parser_fails_closed():
    from shared.auth import InvalidCredentials, issue_token, principal_from_headers

    token = issue_token("parser-clerk", "clerk", region="6401")
    assert principal_from_headers([f"Bearer {token}"]).region == "6401"
    assert principal_from_headers([f"bearer {token}"]).subject == "parser-clerk"
    for values in ([f"Bearer  {token}"], [f"Bearer {token} "], [f" Bearer {token}"], [f"Bearer\t{token}"],
                   [f"Bearer {token}", f"Bearer {token}"], [], [f"Bearer {token},x"], ["Bearer"]):
        with pytest.raises(InvalidCredentials):
            principal_from_headers(values)
    # province-wide is an explicit claim ("*"); issue_token writes it for an empty region
    assert principal_from_headers([f"Bearer {issue_token('p', 'admin')}"]).region == ""


@pytest.mark.parametrize("region", ["%", "6401%", "64_1", "", "６４", "6401\n", "640", "99", "00", "64010", " 64"])
def test_jurisdiction_claims_are_digits_of_a_known_level(region):
    from shared.auth import validate_jurisdiction

    with pytest.raises(ValueError):
        validate_jurisdiction(region)


@pytest.mark.parametrize("region", ["64", "6401", "640104", "640104001", "66", "*"])
def test_valid_jurisdictions(region):
    from shared.auth import validate_jurisdiction

    assert validate_jurisdiction(region) == ("" if region == "*" else region)
