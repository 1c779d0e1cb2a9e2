"""Policy as data: versioned regional policy packs, a validating loader, and a pure evaluation API.

Pack format (``shared/policy/packs/<pack>.yaml``, one file per region pack version)::

    pack_id: ningxia-2022-20-measures      # stable id recorded by workflows with ``version``
    version: "2022.1"                      # YYYY.N, quoted; (region_prefix, version) is unique
    region_prefix: "64"                    # GB/T 2260 prefix (2/4/6 digits); "" = national baseline
    region_name_en / region_name_zh / title_zh / document_number
    seed: 002_c6f97725f515410c.txt         # the seed notice the pack encodes
    effective_from: 2022-06-07             # the pack is in force effective_from..effective_to
    effective_to: 2023-12-31               # (inclusive; omit for "no end date stated")
    validity: [{seed, quote, note}]        # the seed text behind the dates (and any assumption made)
    figures:                               # every number, flag and date the seed fixes
      dibao_urban_monthly_fen:
        value: 65000                       # exact types only: integer fen, "1.5" decimals, true/false
        unit: fen_per_person_month         # see figures.UNITS
        seed: 002_c6f97725f515410c.txt     # one of the five seed files
        quote: 每人每月650元                 # verbatim from the seed (tests check every character)
        note: ...                          # optional: derivations, assumptions, semantics
        minimum / maximum                  # a range the seed allows; value is then the documented default
        set_by: county/prefecture          # only for figures the seed leaves open (value omitted)
        inclusive: true                    # thresholds and limits: does the boundary value qualify?
    measures:                              # evaluable measures (ids from models.MEASURE_IDS)
      quarantine:
        name_zh / name_en / pathway / seed / quote / note
        effective_from / effective_to      # optional, default to the pack window, must lie inside it
        eligible_categories: [dibao, extreme_poverty]
        others_eligible / excluded_categories / requires_uninsured / threshold
        direct_payment: true               # seed says 直接给予 (no application)
        requires_application: false        # seed says 经本人申请
        economic_check: required           # or not_required; economic_check_waived_for: [categories]
        amount: {kind: multiple_of_standard, standard: dibao_urban_monthly_fen,
                 multiple: quarantine_multiple, per: case, at_least: false}

Figures resolve by region and business date: the most specific pack in force that gives the figure
a value wins (a prefecture pack, e.g. ``3611``, can set Jiangxi's locally set dibao standard or pick
a multiple inside the provincial range). Money is integer fen; multiples and ratios are exact
``Decimal``; floats are refused on load. Nothing here reads a clock or does I/O after
``load_library()``'s one-time, cached load, so evaluation is safe in Temporal local activities.
"""

from .benefit import Benefit, BenefitHousehold, BenefitLine, monthly_benefit, monthly_standard_fen
from .library import PolicyLibrary, PolicyPackError, UnknownMeasureError, load_library, load_pack
from .models import (
    CATEGORIES,
    MEASURE_IDS,
    PATHWAYS,
    SEED_FILES,
    AmountRule,
    Citation,
    Entitlement,
    Figure,
    HouseholdProfile,
    Installment,
    Measure,
    PolicyPack,
    ServiceLevels,
)

__all__ = [
    "CATEGORIES",
    "MEASURE_IDS",
    "PATHWAYS",
    "SEED_FILES",
    "AmountRule",
    "Benefit",
    "BenefitHousehold",
    "BenefitLine",
    "Citation",
    "Entitlement",
    "Figure",
    "HouseholdProfile",
    "Installment",
    "Measure",
    "PolicyLibrary",
    "PolicyPack",
    "PolicyPackError",
    "ServiceLevels",
    "UnknownMeasureError",
    "load_library",
    "load_pack",
    "monthly_benefit",
    "monthly_standard_fen",
]
