"""Import Green Button feeds into the database in two steps: plan, then apply.

``import_plan`` (``plan``) streams the feed once and decides, per entry, where it would go and
whether it can (``EntryPlan``). ``import_apply`` (``apply``) writes the entries the caller accepts
(replayed from the plan's spool, ``spool``, or read again from the same bytes, ``reading``), all in
one transaction, upserting by ``uuid`` within the owner: a resource never moves to another usage
point or customer. On PostgreSQL new rows are queued and inserted in bulk (``bulk``). A customer's
import is ``customer``; the batch POST filter reuses both steps with its own
:class:`UsagePointResolver` (grants instead of a customer). The outcome vocabulary is ``reasons``;
the batch filter's rules are decided in ``filter_rules``.
"""

from __future__ import annotations

from custodian.imports.apply import ImportResult, import_apply
from custodian.imports.customer import (
    CustomerImport,
    CustomerUsagePoints,
    customer_feed_import,
    customer_feed_import_with_records,
)
from custodian.imports.plan import EntryPlan, ImportPlan, UsagePointResolver, UsagePointTarget, import_plan
from custodian.imports.reading import ImportProgress
from custodian.imports.reasons import OK, ImportFailed, Reason
from custodian.imports.spool import EntrySpool

__all__ = [
    "OK",
    "CustomerImport",
    "CustomerUsagePoints",
    "EntryPlan",
    "EntrySpool",
    "ImportFailed",
    "ImportPlan",
    "ImportProgress",
    "ImportResult",
    "Reason",
    "UsagePointResolver",
    "UsagePointTarget",
    "customer_feed_import",
    "customer_feed_import_with_records",
    "import_apply",
    "import_plan",
]
