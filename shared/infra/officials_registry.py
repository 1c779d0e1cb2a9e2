"""Four eyes by registered person (NIST AC-3(2)): the second official is another *person*, not another login.

The officials registry (subject -> person id, roles, jurisdiction) belongs to the approval service
(``services/approval/officials.py``, table ``approval.officials``). Another service never reads that
schema: it asks approval over HTTP (``GET {approval_url}/api/officials/{subject}``) with a short-lived
service token, as payment asks intake for its cohorts. Fail closed: when the registry cannot answer, no
second approval is accepted (``RegistryUnavailable``, 503).

Used by the batch's second approval (payment, ``POST /api/batches/{id}/approve``) and the dead letter's
second official (operations, ``POST /api/admin/dlq/{seq}/approve``).
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from pydantic import BaseModel

from shared.auth import Principal, Role, issue_token

LOOKUP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class RegisteredOfficial(BaseModel):
    """What the registry holds of a subject (the fields four eyes needs)."""

    subject: str
    person_id: str
    roles: list[str]
    jurisdiction: str  # "" = every region
    active: bool


class RegistryUnavailable(Exception):
    """The officials registry did not answer: no second approval without it (fail closed)."""


async def registered_official(approval_url: str, subject: str, *, service: str) -> RegisteredOfficial | None:
    """The registry's entry for ``subject``; None when it is not registered. ``service`` names the calling
    service's account (``svc-<service>``)."""
    token = issue_token(f"svc-{service}", Role.service, ttl_s=300)
    url = f"{approval_url.rstrip('/')}/api/officials/{quote(subject, safe='')}"
    try:
        async with httpx.AsyncClient(timeout=LOOKUP_TIMEOUT) as http:
            r = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"officials registry unreachable: {exc!r}") from exc
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise RegistryUnavailable(f"officials registry answered {r.status_code}: {r.text[:200]}")
    return RegisteredOfficial.model_validate(r.json())


def second_official_refusal(*, first_subject: str, first: RegisteredOfficial | None, second: Principal,
                            registered_second: RegisteredOfficial | None) -> str | None:
    """Why ``second`` may not be the second official after ``first_subject`` asked; None when they may.

    Both must be registered, active persons (otherwise nobody can tell two logins of one person apart),
    the second registered for the role and jurisdiction its token acts in, and of another person than
    the first: another login of the same person is the same pair of eyes."""
    if second.subject == first_subject:
        return ("四眼原则：申请人不能自己批准 / four eyes: the official who asked cannot approve it; "
                "a second official must")
    if registered_second is None or not registered_second.active:
        return (f"四眼原则：第二审批人须为登记在册的官员 / four eyes: {second.subject} is not an active "
                "registered official and cannot be the second")
    if str(second.role) not in registered_second.roles or registered_second.jurisdiction != second.region:
        return (f"四眼原则：{second.subject} 的登记角色或辖区与令牌不符 / four eyes: {second.subject} is "
                f"registered as {', '.join(registered_second.roles)} for "
                f"{registered_second.jurisdiction or '*'}, not {second.role} for {second.region or '*'}")
    if first is None or not first.active:
        return (f"四眼原则：申请人 {first_subject} 未登记，无法确认第二审批人为另一人 / "
                f"four eyes: the official who asked ({first_subject}) is not an active registered official, "
                "so no second person can be established; ask again as a registered official")
    if first.person_id == registered_second.person_id:
        return ("四眼原则：同一人的另一账号不能作为第二审批人 / four eyes: the second official is the same "
                "registered person as the one who asked (another login of the same person)")
    return None


REGISTRY_UNAVAILABLE = "四眼原则无法核对：官员登记簿不可用 / four eyes cannot be checked: {}"


async def second_person_refusal(approval_url: str, first_subject: str, second: Principal, *,
                                service: str) -> str | None:
    """Four eyes, asked of the registry: why ``second`` may not approve what ``first_subject`` asked
    (None: they may). Raises ``RegistryUnavailable`` (the caller answers 503: fail closed)."""
    first = await registered_official(approval_url, first_subject, service=service)
    registered_second = await registered_official(approval_url, second.subject, service=service)
    return second_official_refusal(first_subject=first_subject, first=first, second=second,
                                   registered_second=registered_second)
