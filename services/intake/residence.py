"""Applying where you live (就近申请): which office may take an application, and on what basis.

Seeds 001/002: unemployed graduates apply 「由户籍所在地或经常居住地」, uninsured migrant workers who lost their
job 「由务工地或经常居住地」; seed 004: 「推进持有居住证人员在居住地申办社会救助」 and aid to 临时遇困人员 where they
are stranded. The office the application is filed with decides, and the case and its payment are its own
(the case's region is the application's, so that region's pack prices it); where the household is registered
in another county, that registration office is informed (services/intake/store/residence.py, a notice it
reads at ``GET /api/registration-notices``, and the ``doudi.case.opened`` event carries ``filed_where``).

A person registered in another county needs a declared residence of a basis the measure allows; nobody is
taken on by an office for a person who neither lives nor is registered there. Pure: the service brings the
registry's answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.intake.routing import InvalidApplication
from shared.contracts.api import ApplicationIn
from shared.contracts.identity import county_of

Basis = Literal["registered", "not_in_registry", "habitual_residence", "work_place", "emergency_place"]

# The places other than the household's registration each kind of application may be filed at. The
# registration's own county may always take it (the registered place is presumed the residence unless the
# applicant declares another). dibao is enrolled by household where it is registered: not listed.
DECLARABLE: dict[str, frozenset[str]] = {
    "graduate": frozenset({"habitual_residence"}),                    # 户籍所在地或经常居住地
    "job_loss": frozenset({"work_place", "habitual_residence"}),      # 务工地或经常居住地
    "emergency": frozenset({"emergency_place", "habitual_residence"}),  # 急难发生地 (临时遇困)
    "temporary_assistance": frozenset({"habitual_residence", "emergency_place"}),  # 居住证 (seed 004)
    "medical": frozenset({"habitual_residence"}),                     # 居住证 (seed 004)
}

BASIS_ZH: dict[str, str] = {"habitual_residence": "经常居住地", "work_place": "务工地",
                            "emergency_place": "急难发生地"}


class NotFiledHere(InvalidApplication):
    """This office may not take the application: answered 422 naming the field, in Chinese."""


class PaidOnceElsewhere(PermissionError):
    """The one-off aid's cause is held by another case (another office's, or this one's under another
    application): answered 409, the office named, no foreign case id."""

    def __init__(self, holder_region: str):
        super().__init__(f"此项一次性救助已由 {holder_region} 受理，不重复发放 / this one-off aid is already "
                         f"taken by the office of {holder_region}: it is paid once")
        self.holder_region = holder_region


@dataclass(frozen=True)
class FilingPlace:
    """Why this office takes the application, and whom to inform."""

    basis: Basis
    registered_region_code: str | None
    evidence: str = ""

    @property
    def informs_registration_office(self) -> bool:
        return self.basis in BASIS_ZH and self.registered_region_code is not None


def filing_place(app: ApplicationIn, registered_region_code: str | None) -> FilingPlace:
    """The basis on which the office of ``app.region_code`` takes the application of a person registered in
    ``registered_region_code`` (None: not in the registry), or ``NotFiledHere``."""
    county = county_of(app.region_code)
    declared = app.details.residence
    if declared is not None:
        if declared.basis not in DECLARABLE.get(app.kind, frozenset()):
            allowed = "、".join(BASIS_ZH[b] for b in sorted(DECLARABLE.get(app.kind, frozenset()))) or "无"
            raise NotFiledHere("details.residence.basis",
                               f"此类申请（{app.kind}）不能以{BASIS_ZH[declared.basis]}申请，可申报：{allowed} / "
                               f"{app.kind} may not be applied for at the {declared.basis}")
        if county_of(declared.region_code) != county:
            raise NotFiledHere("details.residence.region_code",
                               f"申报的{BASIS_ZH[declared.basis]}不在受理地所在县（{county}）/ the declared "
                               f"{declared.basis} is not in the county the application is filed in")
        if registered_region_code is not None and county_of(registered_region_code) == county:
            return FilingPlace("registered", registered_region_code, declared.evidence)
        return FilingPlace(declared.basis, registered_region_code, declared.evidence)
    if registered_region_code is None:
        return FilingPlace("not_in_registry", None)
    if county_of(registered_region_code) == county:
        return FilingPlace("registered", registered_region_code)
    if app.kind == "emergency" and app.details.stranded:  # 流浪乞讨/临时遇困: aid where it happens
        return FilingPlace("emergency_place", registered_region_code, app.details.reason)
    raise NotFiledHere("details.residence",
                       "申请人户籍不在本县，须申报在本县的经常居住地或务工地（details.residence）/ the applicant is "
                       "registered in another county: declare where they live or work here")


def once_key(app: ApplicationIn) -> str | None:
    """The cause a one-off aid is paid once for, wherever the person applies (None: no such key).
    A graduate's 一次性临时救助金 once per person; a job loss's once per spell without income (its last income
    month)."""
    if app.kind == "graduate":
        return f"graduate:{app.person_id}"
    if app.kind == "job_loss" and app.details.last_income_month is not None:
        return f"job_loss:{app.person_id}:{app.details.last_income_month}"
    return None
