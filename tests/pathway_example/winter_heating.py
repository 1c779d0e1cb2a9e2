"""冬季取暖救助 (winter heating relief): the recipe's worked example, as it would stand in
``workflows/winter_heating.py``. A test-only pathway: the civil-affairs office learns of a household
without heating in winter and opens a case; the workflow here only records what it was started with,
which is all the registry test needs (a real one pays through ``workflows/common.py``'s steps)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import workflow

from shared.contracts.events import _Data
from shared.contracts.pathways import CaseOpening, Pathway

MEASURE = "winter_heating_relief"
MEASURE_DESCRIPTION = "one-off heating aid in winter to households without heating (冬季取暖救助)"

# the registry entry (in shared/contracts/pathways.py for a real pathway)
WINTER_HEATING = Pathway("winter_heating", "冬季取暖救助", "Winter heating relief", measures=(MEASURE,),
                         event_families=("heating",))


class HeatingLost(_Data):
    """``doudi.events.heating.lost``: a household without heating (in shared/contracts/events.py for a
    real pathway, with its owner agency in shared/contracts/sources.py)."""

    person_id: str
    region_code: str
    lost_on: date

    def business_date(self, reported_on: date) -> date:
        return self.lost_on


class WinterHeatingInput(BaseModel):
    case_id: str
    person_id: str | None
    region_code: str
    business_date: date
    cause_event_id: str

    @classmethod
    def opened(cls, opening: CaseOpening) -> WinterHeatingInput:
        """The binding's ``opens_from_event``: the facts every case opens with are all this pathway needs."""
        return cls(case_id=opening.case_id, person_id=opening.person_id, region_code=opening.region_code,
                   business_date=opening.business_date, cause_event_id=opening.cause_event_id)


class WinterHeatingResult(BaseModel):
    case_id: str
    business_date: date


@workflow.defn(name="WinterHeatingRelief")
class WinterHeatingWorkflow:
    @workflow.run
    async def run(self, inp: WinterHeatingInput) -> WinterHeatingResult:
        return WinterHeatingResult(case_id=inp.case_id, business_date=inp.business_date)
