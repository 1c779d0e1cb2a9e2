"""Inbound events from other agencies' systems (docs/contracts.md, "Events").

CloudEvents 1.0 in structured or binary content mode (cloudevent_binding.py) on JetStream subject
``doudi.events.<name>``, CloudEvents ``type`` ``doudi.<name>.v1``. New versions of a type get a new model
and a new ``.v2`` type; the old one keeps working.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from shared.contracts.cloudevent_binding import BindingError, envelope_of
from shared.contracts.identity import NationalId, RegionCode
from shared.contracts.money import IncomeFen, SelfPayFen

EVENTS_SUBJECT_PREFIX = "doudi.events."
DLQ_EVENTS_SUBJECT = "doudi.dlq.events"

# year 0001..9999 (there is no year 0000 to take a date from)
_YEAR = r"([0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
YearMonth = Annotated[str, Field(pattern=rf"^{_YEAR}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


def _no_control_characters(value: str) -> str:
    """CloudEvents strings exclude control characters (U+0000-U+001F, U+007F-U+009F) and surrogates; a NUL
    or a lone surrogate could not be stored (PostgreSQL text) nor sent on in a header either."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        raise ValueError(f"contains the control character or surrogate U+{ord(bad):04X}")
    return value


CeString = Annotated[str, AfterValidator(_no_control_characters)]


class _Data(BaseModel):
    # Agencies may add fields; we read the ones the contract names and ignore the rest.
    model_config = ConfigDict(extra="ignore", frozen=True)

    # the field that dates the facts, where one does (each model names it)
    dated_by: ClassVar[str | None] = None

    def business_date(self, reported_on: date) -> date:
        """The date the policy is resolved by: the event's own facts where they carry one (each model says
        which), the report's date only where they carry none."""
        return getattr(self, self.dated_by) if self.dated_by else reported_on


class _PersonInRegion(_Data):
    """A fact about one person, reported by the agency of the region where it happened."""

    person_id: NationalId
    region_code: RegionCode


class CovidDiagnosed(_PersonInRegion):
    diagnosed_on: date
    dated_by = "diagnosed_on"


class Quarantined(_PersonInRegion):
    quarantined_on: date
    dated_by = "quarantined_on"


class JobLost(_PersonInRegion):
    last_income_month: YearMonth
    unemployment_insured: StrictBool

    def business_date(self, reported_on: date) -> date:
        """The first day without income: the first of the month after the last month with income."""
        year, month = (int(x) for x in self.last_income_month.split("-"))
        return date(year + month // 12, month % 12 + 1, 1)


class GraduateUnemployed(_PersonInRegion):
    graduated_on: date


class MedicalSelfPayReported(_PersonInRegion):
    year: int = Field(ge=2000, le=2100)
    self_pay_fen: SelfPayFen

    def business_date(self, reported_on: date) -> date:
        """A year's accumulated self-pay (年度累计) is judged at the year's end, or at the report while the
        year is still running: a 2022 report arriving years later is judged under 2022's policy."""
        return min(date(self.year, 12, 31), reported_on)


class IncomeChanged(_Data):
    household_id: CeString = Field(min_length=1, max_length=64)
    monthly_income_fen: IncomeFen
    reason: Literal["employment", "other"]
    effective_on: date
    dated_by = "effective_on"


class MemberDeceased(_Data):
    person_id: NationalId
    died_on: date
    dated_by = "died_on"


class DisasterAffected(_PersonInRegion):
    disaster_id: CeString = Field(min_length=1, max_length=64)
    occurred_on: date
    dated_by = "occurred_on"
    # the household's losses and casualties as the disaster report (灾情核定) states them: facts, never an
    # amount paid; doudi raises the aid by its pack's scale within the deciding tier's limit (seed 003
    # 「并根据因灾损失、人员伤亡等情况,适当提高救助水平」; shared/policy/disaster.py, whose bounds these are)
    deaths: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    serious_injuries: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    direct_loss_fen: Annotated[StrictInt, Field(ge=0, le=10**12)] | None = None


class PriceLinkageTriggered(_Data):
    region_code: Annotated[str, Field(pattern=r"^[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3})?)?)?$")]
    month: YearMonth
    # the price index's year-on-year rise the price authority reports, per mille (35 = 3.5 %): doudi computes
    # the subsidy from it by the region's pack (workflows/batch_subsidy/inputs.py, price_linkage_amount)
    price_index_rise_permille: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    # the publisher's own figure, kept for the record and NEVER paid: an amount taken from an event is
    # no authority (issue 14); a zero or absurd one is still refused here with the reason
    subsidy_fen_per_person: Annotated[StrictInt, Field(gt=0, le=10**9)] | None = None


INBOUND_EVENTS: dict[str, type[_Data]] = {
    "health.covid_diagnosed": CovidDiagnosed,
    "health.quarantined": Quarantined,
    "employment.job_lost": JobLost,
    "education.graduate_unemployed": GraduateUnemployed,
    "medical.self_pay_reported": MedicalSelfPayReported,
    "household.income_changed": IncomeChanged,
    "household.member_deceased": MemberDeceased,
    "disaster.affected": DisasterAffected,
    "price.linkage_triggered": PriceLinkageTriggered,
}


def event_type(name: str) -> str:
    return f"doudi.{name}.v1"


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 envelope (either content mode builds it). Extension attributes are kept."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: CeString = Field(min_length=1, max_length=200)
    source: CeString = Field(min_length=1, max_length=500)
    type: CeString = Field(min_length=1)
    time: datetime | None = None
    datacontenttype: str | None = None
    subject: CeString | None = None
    data: dict[str, Any]

    @field_validator("datacontenttype")
    @classmethod
    def _json_data(cls, value: str | None) -> str | None:
        """Structured JSON mode with ``data`` a JSON object: a declared content type must be JSON."""
        media = (value or "application/json").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise ValueError(f"data must be JSON (application/json or */*+json), not {value!r}")
        return value


class InvalidEvent(Exception):
    """An inbound message that breaks the contract; it goes to the dead-letter subject."""

    def __init__(self, reason: str, event_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id


class InboundEvent(BaseModel):
    """A validated inbound event: envelope plus typed data."""

    model_config = ConfigDict(frozen=True)

    name: str
    envelope: CloudEvent
    data: _Data

    @property
    def id(self) -> str:
        return self.envelope.id


def _describe(err: ValidationError, prefix: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        parts.append(f"{prefix}{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_inbound(subject: str, raw: bytes, headers: Mapping[str, str] | None = None) -> InboundEvent:
    """Validate one message from ``doudi.events.<name>`` (its ``headers`` carry a binary-mode event's
    attributes, shared/contracts/cloudevent_binding.py); raise InvalidEvent with a reason."""
    if not subject.startswith(EVENTS_SUBJECT_PREFIX):
        raise InvalidEvent(f"subject {subject!r} is not under {EVENTS_SUBJECT_PREFIX}")
    name = subject[len(EVENTS_SUBJECT_PREFIX):]
    model = INBOUND_EVENTS.get(name)
    if model is None:
        raise InvalidEvent(f"unknown event name {name!r} (subject {subject})")
    try:
        body = envelope_of(headers, raw)  # structured or binary content mode: the same envelope
    except BindingError as err:
        raise InvalidEvent(err.reason, event_id=err.event_id) from None
    try:
        envelope = CloudEvent.model_validate(body)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc, "cloudevent."), event_id=_maybe_id(body)) from None
    if envelope.type != event_type(name):
        raise InvalidEvent(
            f"cloudevent.type {envelope.type!r} does not match subject (expected {event_type(name)!r})",
            event_id=envelope.id,
        )
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc, "data."), event_id=envelope.id) from None
    return InboundEvent(name=name, envelope=envelope, data=data)


def _maybe_id(body: dict[str, Any]) -> str | None:
    value = body.get("id")
    return value if isinstance(value, str) else None


def make_cloudevent(name: str, data: dict[str, Any], *, event_id: str,
                    source: str = "urn:test") -> dict[str, Any]:
    """Build a structured-mode CloudEvent for ``name`` (used by publishers and tests)."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": event_type(name),
        "datacontenttype": "application/json",
        "data": data,
    }
