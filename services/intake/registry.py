"""Who may write what into the household registry (issue 14).

- **A person belongs to one household.** Registering a household with a member who already belongs to a
  household of another jurisdiction is refused (409, naming the member): that jurisdiction moves them out.
  Within one's own county (and jurisdiction) a move is explicit — the registration names the member in
  ``move_members`` — and recorded (``registry_changes``: who, from which household). Never a silent
  takeover (the registry used to ``ON CONFLICT (person_id) DO UPDATE`` the member into the new household).
- **Categories that carry money are not typed by a clerk.** ``MONEY_CATEGORIES`` decide payments: today
  every category is named by some measure of a policy pack as eligible for it or excluded from it, and a
  new one counts as carrying money unless declared otherwise (a unit test checks the packs against
  it). They are set by the decisions that enrol a household and by an authorised roster registration
  (``POST /api/households/roster``, the county's civil-affairs approvers or a service account of the
  roster system; ``POST /api/enrolments/import`` likewise), each recorded. A clerk's
  registration (``POST /api/households``) may not add one (403 naming ``categories``); the ones the
  household already holds stay as they are whatever the clerk sends (a clerk does not remove them either).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.intake import store
from shared.contracts.api import Category, HouseholdIn
from shared.contracts.identity import county_of
from shared.regions import region_name

# Every category today is some measure's eligibility (or exclusion) in the packs (低保, 特困, 低保边缘,
# 低收入人口库, 孤儿, 事实无人抚养儿童, 流浪乞讨, 高龄津贴, 乡村振兴部门认定, 脱贫人口), so each is a payment
# decision. Fail closed: a new category carries money unless it is named here as one that does not.
CATEGORIES_WITHOUT_MONEY: frozenset[str] = frozenset()
MONEY_CATEGORIES: frozenset[str] = frozenset(str(c) for c in Category) - CATEGORIES_WITHOUT_MONEY


@dataclass(frozen=True)
class Registrar:
    """Who registers: ``roster`` = an authorised roster registration (may set money categories)."""

    subject: str
    role: str
    region: str  # jurisdiction prefix; "" = everywhere
    roster: bool = False

    def may_see(self, region_code: str) -> bool:
        return not self.region or region_code.startswith(self.region)


class RegistrationRefused(Exception):
    """A registration the rules refuse: the HTTP status and the field, with a Chinese message."""

    def __init__(self, status_code: int, loc: list[Any], msg: str, kind: str):
        super().__init__(msg)
        self.status_code = status_code
        self.loc = loc
        self.msg = msg
        self.kind = kind

    def detail(self) -> list[dict[str, Any]]:
        return [{"loc": self.loc, "msg": self.msg, "type": self.kind}]


@dataclass(frozen=True)
class IfMatch:
    """An update's precondition (``If-Match``): the household's version the caller read (its ``ETag``), or
    ``*`` (any version: the household must exist). Without one a registration replaces the household as
    before (agencies' scripts and ``doudi import`` re-register by household id)."""

    versions: frozenset[int]
    any_version: bool = False

    @classmethod
    def parse(cls, header: str | None) -> IfMatch | None:
        """``"3"``, ``W/"3"``, ``"3", "4"`` or ``*``; None without a header. Weak and strong tags compare alike:
        the tag is the version of the household's data, whatever else the answer shows."""
        if header is None or not header.strip():
            return None
        if header.strip() == "*":
            return cls(frozenset(), any_version=True)
        versions = set()
        for tag in header.split(","):
            value = tag.strip().removeprefix("W/").strip('"')
            if not value.isascii() or not value.isdigit() or len(value) > 9:
                raise RegistrationRefused(
                    400, ["header", "If-Match"],
                    f"If-Match 须为本家庭的 ETag（如 \"3\"），收到 {tag.strip()[:40]!r}"
                    f" (If-Match must carry the household's ETag, e.g. \"3\")", "if_match_invalid")
            versions.add(int(value))
        return cls(frozenset(versions))

    def check(self, household_id: str, current: int | None) -> None:
        """412 unless the household is at a version the caller named (it exists, for ``*``)."""
        if current is not None and (self.any_version or current in self.versions):
            return
        read = "、".join(str(v) for v in sorted(self.versions)) or "*"
        now = "不存在" if current is None else f"当前版本 {current}"
        raise RegistrationRefused(
            412, ["header", "If-Match"],
            f"家庭 {household_id} 已被修改或不存在（{now}，您依据的版本 {read}）；请重新读取后再提交，未作任何更改"
            f" (household {household_id} is no longer at the version you read: nothing was changed)",
            "version_mismatch")


def etag(version: int) -> str:
    """The ``ETag`` of a household at ``version`` (its data's version: the monthly cycle's too)."""
    return f'"{version}"'


def without_typed_money_categories(h: HouseholdIn, held: set[str] | None) -> HouseholdIn:
    """A clerk's registration: no money category added; those the household holds are kept."""
    typed = {str(c) for c in h.categories}
    added = sorted((typed & MONEY_CATEGORIES) - (held or set()))
    if added:
        raise RegistrationRefused(
            403, ["body", "categories"],
            f"类别 {'、'.join(added)} 涉及救助资金，只能由审批决定或授权的名册登记设定，经办人员不能录入"
            f" (categories that carry money are set by decisions or an authorised roster registration: "
            f"{', '.join(added)})", "money_category_typed")
    kept = (typed - MONEY_CATEGORIES) | ((held or set()) & MONEY_CATEGORIES)
    return h.model_copy(update={"categories": [Category(c) for c in sorted(kept)]})


def _member_loc(h: HouseholdIn, person_id: str) -> list[Any]:
    index = next((i for i, m in enumerate(h.members) if m.person_id == person_id), 0)
    return ["body", "members", index, "person_id"]


def masked_household_id(household_id: str) -> str:
    """Another jurisdiction's household id, masked: its first three and last two characters (enough to quote
    to that office, not to look the household up), as national IDs are masked for whoever may not see them."""
    return household_id[:3] + "***" + household_id[-2:] if len(household_id) > 6 else "***"


def _elsewhere(h: HouseholdIn, person_id: str, household_id: str, region_code: str) -> RegistrationRefused:
    """A member already in a household of another jurisdiction: the refusal names that household (masked) and
    its county, so the office that moves them out is known."""
    county = region_name(county_of(region_code)) or county_of(region_code)
    other = masked_household_id(household_id)
    return RegistrationRefused(
        409, _member_loc(h, person_id),
        f"成员 {person_id} 已在其他辖区（{county}）的家庭 {other} 中登记，不能登记到本家庭；"
        f"跨辖区迁移须由原辖区办理迁出"
        f" (person {person_id} belongs to household {other} of another jurisdiction: {county_of(region_code)})",
        "member_of_another_jurisdiction")


async def place_members(conn: asyncpg.Connection, h: HouseholdIn, by: Registrar,
                        moves: Collection[str]) -> None:
    """Members already in another household: refused, unless an explicit move within the registrar's own
    county and jurisdiction, which is made (and recorded) here."""
    for row in await store.members_elsewhere(conn, [m.person_id for m in h.members], h.household_id):
        person, current, region = row["person_id"], row["household_id"], row["region_code"]
        if county_of(region) != county_of(h.region_code) or not by.may_see(region):
            raise _elsewhere(h, person, current, region)
        if person not in moves:
            raise RegistrationRefused(
                409, _member_loc(h, person),
                f"成员 {person} 已在本辖区家庭 {current} 中登记；如需迁入本家庭，请在 move_members 中明确列出"
                f" (person {person} belongs to household {current}: name them in move_members to move them)",
                "member_of_another_household")
        await store.move_member_out(conn, person, current, h.household_id, actor=by.subject, role=by.role)


async def register(conn: asyncpg.Connection, h: HouseholdIn, by: Registrar,
                   moves: Collection[str] = (), if_match: IfMatch | None = None) -> tuple[HouseholdIn, int, bool]:
    """Register or update ``h`` under the rules above, in the caller's transaction. Returns the household
    as registered (a clerk's categories as kept), its version and whether it was created. With ``if_match``
    the household must still be at a version the caller read (412 otherwise, nothing written)."""
    held = await store.household_categories(conn, h.household_id)  # locks the household's row
    if if_match is not None:
        if_match.check(h.household_id, await store.household_version(conn, h.household_id))
    if not by.roster:
        h = without_typed_money_categories(h, held)
    await place_members(conn, h, by, moves)
    try:
        version, created = await store.upsert_household(conn, h)
    except store.MemberElsewhere as exc:  # someone registered them elsewhere meanwhile: nothing is written
        raise _elsewhere(h, exc.person_id, exc.household_id, exc.region_code) from None
    if by.roster:
        await store.record_roster_registration(conn, h, actor=by.subject, role=by.role)
    return h, version, created
