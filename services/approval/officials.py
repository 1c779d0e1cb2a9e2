"""The officials registry (who a token's subject is): subject -> person id, roles, jurisdiction.

A decision on money is signed for a workflow only with the person id registered here (conflict of
interest and committee membership are checked against it, never a token claim). A province-wide
administrator registers officials; every change is kept with who made it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.approval.store import ApprovalStore, Official
from shared.assertions import Signatory
from shared.auth import Principal, ProvinceAdmin, Role, require_roles, validate_jurisdiction
from shared.contracts.identity import NationalId

router = APIRouter(prefix="/api")


def approval_store(request: Request) -> ApprovalStore:
    """The service's store (``main.build`` puts it on the app): what approval's routes read and write."""
    store: ApprovalStore = request.app.state.store
    return store


Store = Annotated[ApprovalStore, Depends(approval_store)]

# Roles registered officials act in; a service account or a clerk is no official deciding money.
OFFICIAL_ROLES = (Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.admin,
                  Role.auditor, Role.clerk)


class OfficialIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "person_id": "640104197506203035", "name": "王芳", "roles": ["county_approver"], "jurisdiction": "640104",
            "active": True,
        },
    ]})

    person_id: NationalId = Field(description="the official's own national ID (conflict-of-interest checks)")
    name: str = Field(min_length=1, max_length=100)
    roles: list[Role] = Field(min_length=1, max_length=len(OFFICIAL_ROLES))
    jurisdiction: str = Field(max_length=12,
                              description="region-code prefix (2/4/6/9 digits) or '*' for every region")
    active: bool = True

    @field_validator("roles")
    @classmethod
    def _official_roles(cls, roles: list[Role]) -> list[Role]:
        if Role.service in roles:
            raise ValueError("roles: a service account is not an official")
        return sorted(set(roles))

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdiction(cls, value: str) -> str:
        return validate_jurisdiction(value)


async def signatory_for(store: ApprovalStore, principal: Principal) -> Signatory:
    """Who signs a human update: the token's subject, role and jurisdiction, with the registered person id
    when the subject is an active official registered for that role and jurisdiction. A registered
    official acting outside what the registry grants is refused (403); someone not registered signs
    without a person id, which no workflow accepts for a decision on money."""
    official = await store.find_official(principal.subject)
    who = Signatory(subject=principal.subject, role=str(principal.role), region=principal.region)
    if official is None or not official.active:
        return who
    if str(principal.role) not in official.roles:
        raise HTTPException(403, f"{principal.subject} is registered as {', '.join(official.roles)}, "
                                 f"not {principal.role}")
    if principal.region != official.jurisdiction:
        raise HTTPException(403, f"{principal.subject} is registered for jurisdiction "
                                 f"{official.jurisdiction or '*'}, the token says {principal.region or '*'}")
    return who.model_copy(update={"person_id": official.person_id})


# ---- routes ---------------------------------------------------------------------------------------------

Subject = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._@:-]+$")]


@router.put("/officials/{subject}", response_model=Official, summary="Register or update an official")
async def put_official(subject: Subject, body: OfficialIn, principal: ProvinceAdmin,
                       store: Store) -> Official:
    return await store.register_official(
        subject, person_id=body.person_id, name=body.name,
        roles=[str(r) for r in body.roles],
        jurisdiction="" if body.jurisdiction == "*" else body.jurisdiction,
        active=body.active, registered_by=principal.subject)


def registry_reader(principal: Annotated[Principal, Depends(require_roles(Role.service))]) -> Principal:
    """A province-wide administrator, or another service's account (four eyes by registered person in
    payment and operations, shared/infra/officials_registry.py: they ask here, never read this schema)."""
    if principal.region:
        raise HTTPException(403, "the officials registry is read province-wide; your jurisdiction is "
                                 f"{principal.region}")
    return principal


@router.get("/officials/{subject}", response_model=Official, summary="An official of the registry")
async def get_official(subject: Subject, principal: Annotated[Principal, Depends(registry_reader)],
                       store: Store) -> Official:
    official = await store.find_official(subject)
    if official is None:
        raise HTTPException(404, f"no official {subject}")
    return official
