"""Which agency owns which inbound events (来源部门与事件归属).

Every inbound event family ``doudi.events.<family>.*`` belongs to exactly one source agency, and each
agency publishes as its own NATS user (``shared/infra/nats_permissions.py`` allows it exactly the
subjects of its own events, and its own inbox prefix ``_INBOX.<user>``). The subject is therefore the
publisher's identity the server has checked: intake takes the source from the subject, never from a
field in the body, and dead-letters an event whose family is not its source's or whose CloudEvents
``source`` names another agency.

CloudEvents ``source`` of an inbound event: ``urn:doudi:source:<user>`` (a publisher may append
``:<system>``, e.g. ``urn:doudi:source:health:his-640100``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.events import EVENTS_SUBJECT_PREFIX, INBOUND_EVENTS, InvalidEvent

SOURCE_URN_PREFIX = "urn:doudi:source:"


@dataclass(frozen=True)
class SourceAgency:
    user: str                      # its NATS user, also the token in its CloudEvents source
    name_zh: str
    families: tuple[str, ...]      # the event families it alone may publish

    @property
    def events(self) -> tuple[str, ...]:
        """Its inbound event names (``health.quarantined`` ...)."""
        return tuple(name for name in INBOUND_EVENTS if name.split(".", 1)[0] in self.families)

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(f"{EVENTS_SUBJECT_PREFIX}{name}" for name in self.events)

    @property
    def source_uri(self) -> str:
        return f"{SOURCE_URN_PREFIX}{self.user}"


SOURCES: tuple[SourceAgency, ...] = (
    SourceAgency("health", "卫生健康部门（确诊、隔离）", ("health",)),
    SourceAgency("hr_social_security", "人力资源和社会保障部门（失业）", ("employment",)),
    SourceAgency("education", "教育部门（未就业毕业生）", ("education",)),
    SourceAgency("medical_insurance", "医疗保障部门（医疗自付）", ("medical",)),
    SourceAgency("civil_registry", "公安户籍与民政登记（死亡、收入变化）", ("household",)),
    SourceAgency("emergency_management", "应急管理部门（受灾）", ("disaster",)),
    SourceAgency("price_authority", "价格主管部门（价格临时补贴联动）", ("price",)),
)

SOURCE_USERS: tuple[str, ...] = tuple(s.user for s in SOURCES)
BY_USER: dict[str, SourceAgency] = {s.user: s for s in SOURCES}
_BY_FAMILY: dict[str, SourceAgency] = {family: s for s in SOURCES for family in s.families}


def family_of(name: str) -> str:
    return name.split(".", 1)[0]


def owner_of(name: str) -> SourceAgency:
    """The agency that owns an inbound event name (KeyError for an unknown family)."""
    return _BY_FAMILY[family_of(name)]


def publishing_source(subject: str) -> SourceAgency | None:
    """The agency the server let publish on ``subject``: the owner of the subject's family namespace."""
    if not subject.startswith(EVENTS_SUBJECT_PREFIX):
        return None
    return _BY_FAMILY.get(family_of(subject[len(EVENTS_SUBJECT_PREFIX):]))


def verify_source(subject: str, name: str, declared_source: str) -> SourceAgency:
    """The event's verified source, or ``InvalidEvent`` (dead letter) when the event's family does not
    belong to the agency that published on ``subject``, or its ``source`` claims another agency."""
    publisher = publishing_source(subject)
    if publisher is None:
        raise InvalidEvent(f"no source agency publishes on {subject!r}")
    if family_of(name) not in publisher.families:
        raise InvalidEvent(f"event family {family_of(name)!r} does not belong to the publishing source"
                           f" {publisher.user!r} (subject {subject})")
    if declared_source.startswith(SOURCE_URN_PREFIX):
        claimed = declared_source[len(SOURCE_URN_PREFIX):].split(":", 1)[0]
        if claimed != publisher.user:
            raise InvalidEvent(f"cloudevent.source {declared_source!r} names {claimed!r}, but the event was"
                               f" published by source {publisher.user!r} (subject {subject})")
    return publisher
