"""The one table from the data a customer shares, in their words, to the ESPI function blocks that carry it.

The consent screen, "My grants", the customer e-mails and the Authorization resource all describe a
scope through :func:`describe_data`; the consent form offers one choice per category and
:func:`function_blocks_without` removes every function block of a category the customer unticks.
A function block in no category is protocol (security classes, REST, query parameters,
notifications...): it carries no data, is never shown as data and is kept whatever the customer
chooses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from custodian.espi.customer import ACCOUNT_AND_BILLING, NAME_AND_ADDRESS
from grants.scopes import EspiScope, ScopeError, parse_scope

if TYPE_CHECKING:
    from grants.models import Grant


@dataclass(frozen=True)
class DataCategory:
    """One kind of data a customer can share or withhold, and the function blocks that carry it."""

    key: str
    function_blocks: frozenset[int]
    words: str | Promise


USAGE = "usage"
COSTS = "costs"
TOTALS = "totals"
QUALITY = "quality"
CUSTOMER = "customer"

DATA_CATEGORIES: tuple[DataCategory, ...] = (
    # Interval metering (4) and what it is metered in: electricity (5), demand (6), net and
    # forward/reverse metering (7, 8), register values (9), gas (10), water (11), temperature (29).
    DataCategory(USAGE, frozenset({4, 5, 6, 7, 8, 9, 10, 11, 29}), gettext_lazy("your energy use, reading by reading")),
    DataCategory(COSTS, frozenset({12}), gettext_lazy("what each of those readings cost")),
    DataCategory(TOTALS, frozenset({15, 16, 27, 28}), gettext_lazy("your billing-period totals and costs")),
    DataCategory(QUALITY, frozenset({17}), gettext_lazy("the quality of your power supply (voltage, interruptions)")),
    DataCategory(
        CUSTOMER, frozenset({46, 47, 48, 49, 50}), gettext_lazy("your name, address, account and billing details")
    ),
)
CATEGORY_BY_KEY = {category.key: category for category in DATA_CATEGORIES}
DATA_FUNCTION_BLOCKS = frozenset().union(*(category.function_blocks for category in DATA_CATEGORIES))


@dataclass(frozen=True)
class RecordChoice:
    """One of the customer's own records they may share (``customer.xsd``): its own choice, never ticked for them.

    The Retail Customer function blocks (the ``CUSTOMER`` category) carry both; the grant records
    which the customer chose (``Grant.customer_records``) and a Third Party reads only those kinds
    (``custodian.espi.customer.RECORD_CATEGORIES``).
    """

    key: str
    words: str | Promise


RECORD_CHOICES: tuple[RecordChoice, ...] = (
    RecordChoice(NAME_AND_ADDRESS, gettext_lazy("your name and service address")),
    RecordChoice(ACCOUNT_AND_BILLING, gettext_lazy("your account and billing details")),
)
RECORD_CHOICE_BY_KEY = {choice.key: choice for choice in RECORD_CHOICES}


def record_choices_words(records: Iterable[str]) -> list[str]:
    """Return the customer's chosen records in their words, in table order."""
    chosen = set(records)
    return [str(choice.words) for choice in RECORD_CHOICES if choice.key in chosen]


def is_protocol_function_block(function_block: int) -> bool:
    """Return whether a function block carries no data (kept in a grant whatever the customer chooses)."""
    return function_block not in DATA_FUNCTION_BLOCKS


def categories_of(function_blocks: Iterable[int]) -> list[DataCategory]:
    """Return the categories any of these function blocks carries, in table order."""
    blocks = set(function_blocks)
    return [category for category in DATA_CATEGORIES if blocks & category.function_blocks]


def function_blocks_without(function_blocks: Iterable[int], *, withheld: Iterable[str]) -> frozenset[int]:
    """Return the function blocks left when the customer withholds these categories (every block of each)."""
    removed = frozenset().union(*(CATEGORY_BY_KEY[key].function_blocks for key in withheld))
    return frozenset(function_blocks) - removed


def _every(scope: EspiScope | None) -> str | None:
    """Return "every 15 minutes" / "every hour" for the finest interval a scope names, or None."""
    seconds = scope.min_interval_seconds if scope is not None else None
    if not seconds:
        return None
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return str(_("every hour")) if hours == 1 else _("every {hours} hours").format(hours=hours)
    if seconds % 60 == 0:
        return _("every {minutes} minutes").format(minutes=seconds // 60)
    return _("every {seconds} seconds").format(seconds=seconds)


def _usage_words(function_blocks: frozenset[int], scope: EspiScope | None) -> str:
    commodities = []
    if function_blocks & {5, 6, 7, 8, 9}:
        commodities.append("electricity")
    if 10 in function_blocks:
        commodities.append("gas")
    if 11 in function_blocks:
        commodities.append("water")
    words = {
        ("electricity",): _("your electricity use"),
        ("gas",): _("your gas use"),
        ("water",): _("your water use"),
        ("electricity", "gas"): _("your electricity and gas use"),
    }.get(tuple(commodities), _("your energy use"))
    every = _every(scope)
    if every is None:
        return _("{what}, reading by reading").format(what=words)
    return _("{what} {every}").format(what=words, every=every)


def category_words(category: DataCategory, *, function_blocks: Iterable[int], scope: EspiScope | None = None) -> str:
    """Return one category in the customer's words, made precise by the scope ("... every 15 minutes")."""
    if category.key == USAGE:
        return _usage_words(frozenset(function_blocks), scope)
    return str(category.words)


def describe_data(
    function_blocks: Iterable[int], *, scope: EspiScope | None = None, records: Iterable[str] | None = None
) -> list[str]:
    """Return what a set of function blocks shares, in the customer's words; protocol blocks say nothing.

    ``records``: the customer records a grant shares (``Grant.customer_records``); given, they say
    what the Retail Customer function blocks carry for that grant.
    """
    blocks = frozenset(function_blocks)
    words: list[str] = []
    for category in categories_of(blocks):
        if category.key == CUSTOMER and records is not None:
            words.extend(record_choices_words(records))
        else:
            words.append(category_words(category, function_blocks=blocks, scope=scope))
    return words


def describe_scope(scope: EspiScope) -> list[str]:
    """Return what a scope shares, in the customer's words."""
    return describe_data(scope.function_blocks, scope=scope)


def grant_description(
    *,
    third_party_name: str,
    function_blocks: Iterable[int],
    scope: EspiScope | None,
    end,
    records: Iterable[str] | None = None,
) -> str:
    """Return one grant in a sentence: who, which data, until which local day (the Authorization's title, e-mails)."""
    from custodian.local_dates import last_local_day

    data = "; ".join(describe_data(function_blocks, scope=scope, records=records)) or _("no data")
    until = formats.date_format(last_local_day(end), "DATE_FORMAT")
    return _("%(name)s: %(data)s; until %(until)s (through the end of that day)") % {
        "name": third_party_name,
        "data": data,
        "until": until,
    }


def grant_sentence(*, grant: Grant) -> str:
    """Return a stored grant in one sentence (``grant_description`` of its scope, period end and Third Party).

    The one wording of a grant and its period for the Authorization's title and the customer's e-mails;
    a stored scope that no longer parses is described by its function blocks alone.
    """
    try:
        scope = parse_scope(grant.scope)
    except ScopeError:
        scope = None
    return grant_description(
        third_party_name=grant.third_party.name,
        function_blocks=grant.function_blocks,
        scope=scope,
        end=grant.authorized_end,
        records=grant.customer_records,
    )
