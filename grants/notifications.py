"""The ESPI notification outbox: enqueue BatchList notifications with the change, deliver them after commit.

Enqueue functions write :class:`~grants.models.Notification` rows and must be called inside the
transaction of the change they announce (they join it), so the row commits or rolls back with it.
The worker (``manage.py deliver_notifications``) claims due rows with ``SELECT ... FOR UPDATE SKIP
LOCKED``, commits the claim, POSTs one BatchList per Third Party outside any transaction, then
records the outcome: delivered on 2xx, otherwise retried with exponential backoff and jitter up to
``NOTIFICATION_MAX_ATTEMPTS`` attempts, then failed (visible to staff in admin, with a retry action).
"""

from __future__ import annotations

import http.client
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from custodian.espi.writer import element_document, element_xml
from custodian.models import AuditEvent
from custodian.services import audit_record
from grants.models import Grant, GrantUsagePoint, Notification, ThirdParty
from grants.resource_uris import application_information_uri, grant_authorization_uri, resource_uri
from grants.selectors import active_grant_q

# Audit action of a staff retry (free-form: custodian.AuditEvent.Action has no choice for it yet).
AUDIT_NOTIFICATION_RETRIED = AuditEvent.Action.NOTIFICATION_RETRIED

CONTENT_TYPE = "application/xml"
# A BatchList POST names at most this many outbox rows; the rest go in the next POST.
ROWS_PER_POST = 200


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("NOTIFICATION_MAX_ATTEMPTS", 8))


# ---- URIs ---------------------------------------------------------------------------------------


def _grant_uri(
    *, subscription_id: str, bulk_id: str | None, published_min: datetime | None, published_max: datetime | None
) -> str:
    # A bulk member's data is fetched through its bulk with the client token; a lone grant through its subscription.
    if bulk_id is not None:
        return resource_uri("Batch", "Bulk", bulk_id, published_min=published_min, published_max=published_max)
    return resource_uri(
        "Batch", "Subscription", subscription_id, published_min=published_min, published_max=published_max
    )


def batch_list_document(*, resources: Iterable[str]) -> bytes:
    """Return the ESPI ``<BatchList>`` document naming ``resources`` (the body of a notification)."""
    return b"".join(element_document(element_xml("BatchList", [("resources", uri) for uri in resources])))


# ---- Enqueue (inside the caller's transaction) --------------------------------------------------
# No atomic block of their own: each writes with one INSERT, and a savepoint would only add round trips.


def notification_enqueue_for_grants(*, grants: Iterable[Grant], kind: str) -> list[Notification]:
    """Queue one notification about each grant (one INSERT for all), as :func:`notification_enqueue_for_grant` would."""
    rows = [row for grant in grants if (row := _grant_notification(grant=grant, kind=kind)) is not None]
    return Notification.objects.bulk_create(rows, batch_size=500) if rows else []


def _grant_notification(
    *, grant: Grant, kind: str, published_min: datetime | None = None, published_max: datetime | None = None
) -> Notification | None:
    third_party = grant.third_party
    if not third_party.notify_uri:
        return None
    bulk_user = grant.bulk_user
    uri = _grant_uri(
        subscription_id=grant.subscription_id,
        bulk_id=bulk_user.bulk_id if bulk_user is not None else None,
        published_min=published_min,
        published_max=published_max,
    )
    resources = [uri]
    if kind != Notification.Kind.NEW_DATA:
        # A new, changed, revoked or expired grant is also announced as its Authorization (PSH002).
        resources.append(grant_authorization_uri(grant=grant))
    return Notification(third_party=third_party, grant=grant, bulk_user=bulk_user, kind=kind, resources=resources)


def notification_enqueue_for_grant(
    *,
    grant: Grant,
    kind: str,
    published_min: datetime | None = None,
    published_max: datetime | None = None,
) -> Notification | None:
    """Queue one notification about ``grant`` in the current transaction; None if its Third Party has no notify URI."""
    row = _grant_notification(grant=grant, kind=kind, published_min=published_min, published_max=published_max)
    if row is not None:
        row.save()
    return row


def notification_enqueue_for_application_information(*, third_party: ThirdParty) -> Notification | None:
    """Queue a notification that a Third Party's ApplicationInformation changed (PSH001); None without a notify URI."""
    if not third_party.notify_uri:
        return None
    return Notification.objects.create(
        third_party=third_party,
        kind=Notification.Kind.APPLICATION_INFORMATION_CHANGED,
        resources=[application_information_uri(third_party=third_party)],
    )


def notification_enqueue_for_batch_result(
    *, third_party: ThirdParty, resources: Sequence[str], bulk_user: Any = None, grant: Grant | None = None
) -> Notification | None:
    """Queue the BatchList naming each part of an asynchronous Batch GET's result; None without a notify URI."""
    if not third_party.notify_uri or not resources:
        return None
    return Notification.objects.create(
        third_party=third_party,
        grant=grant,
        bulk_user=bulk_user,
        kind=Notification.Kind.BATCH_READY,
        resources=list(resources),
    )


def notification_enqueue_for_usage_points(
    *,
    usage_point_ids: Iterable[int],
    published_min: datetime | None = None,
    published_max: datetime | None = None,
    at: datetime | None = None,
) -> list[Notification]:
    """Queue "new data" notifications for every active grant covering these usage points (primary keys).

    Two queries: one read of the covering grants, one insert. A bulk gets one row for all its
    member grants; a Third Party without a notify URI gets none.
    """
    ids = list(usage_point_ids)
    if not ids:
        return []
    covering = (
        GrantUsagePoint.objects.filter(
            active_grant_q(at=at, prefix="grant__"),
            usage_point_id__in=ids,
            revoked_at__isnull=True,
        )
        .exclude(grant__third_party__notify_uri="")
        .values_list(
            "grant_id",
            "grant__subscription_id",
            "grant__third_party_id",
            "grant__bulk_user_id",
            "grant__bulk_user__bulk_id",
        )
        .distinct()
    )
    rows: dict[tuple[int, str], Notification] = {}
    for grant_id, subscription_id, third_party_id, bulk_user_pk, bulk_id in covering:
        key = (third_party_id, f"bulk:{bulk_user_pk}" if bulk_user_pk is not None else f"grant:{grant_id}")
        if key in rows:
            continue
        rows[key] = Notification(
            third_party_id=third_party_id,
            grant_id=None if bulk_user_pk is not None else grant_id,
            bulk_user_id=bulk_user_pk,
            kind=Notification.Kind.NEW_DATA,
            resources=[
                _grant_uri(
                    subscription_id=subscription_id,
                    bulk_id=bulk_id,
                    published_min=published_min,
                    published_max=published_max,
                )
            ],
        )
    return Notification.objects.bulk_create(list(rows.values()))


def notification_enqueue_daily_new_data(*, day_end: datetime) -> list[Notification]:
    """Queue the daily "new data ready" notice for the day before ``day_end``, per opted-in Third Party.

    A Third Party with ``daily_new_data_notice`` on gets one BatchList URI per grant (or per bulk)
    whose usage points received interval data, summaries or power quality in ``[day_end - 1 day,
    day_end)``, bounded by published-min/max to that day. Running it twice for the same day queues
    nothing more (a notice already queued for the same URI is skipped).
    """
    from custodian.models import ElectricPowerQualitySummary, IntervalBlock, UsageSummary

    day_start = day_end - timedelta(days=1)
    window = {"published__gte": day_start, "published__lt": day_end}
    changed = (
        set(IntervalBlock.objects.filter(**window).values_list("meter_reading__usage_point_id", flat=True).distinct())
        | set(UsageSummary.objects.filter(**window).values_list("usage_point_id", flat=True).distinct())
        | set(ElectricPowerQualitySummary.objects.filter(**window).values_list("usage_point_id", flat=True).distinct())
    )
    if not changed:
        return []
    covering = (
        GrantUsagePoint.objects.filter(
            active_grant_q(at=timezone.now(), prefix="grant__"),
            usage_point_id__in=changed,
            revoked_at__isnull=True,
            grant__third_party__daily_new_data_notice=True,
        )
        .exclude(grant__third_party__notify_uri="")
        .values_list(
            "grant_id",
            "grant__subscription_id",
            "grant__third_party_id",
            "grant__bulk_user_id",
            "grant__bulk_user__bulk_id",
        )
        .distinct()
    )
    already = {
        (third_party_id, uri)
        for third_party_id, resources in Notification.objects.filter(
            kind=Notification.Kind.NEW_DATA, created_at__gte=day_start
        ).values_list("third_party_id", "resources")
        for uri in resources
    }
    rows: dict[tuple[int, str], Notification] = {}
    for grant_id, subscription_id, third_party_id, bulk_user_pk, bulk_id in covering:
        uri = _grant_uri(
            subscription_id=subscription_id, bulk_id=bulk_id, published_min=day_start, published_max=day_end
        )
        key = (third_party_id, uri)
        if key in rows or key in already:
            continue
        rows[key] = Notification(
            third_party_id=third_party_id,
            grant_id=None if bulk_user_pk is not None else grant_id,
            bulk_user_id=bulk_user_pk,
            kind=Notification.Kind.NEW_DATA,
            resources=[uri],
        )
    return Notification.objects.bulk_create(list(rows.values()))


# ---- Staff actions -------------------------------------------------------------------------------


@transaction.atomic
def notification_retry(*, notifications: Iterable[Notification], actor: Any = None, now: datetime | None = None) -> int:
    """Make failed or pending notifications due now with a fresh attempt budget; audit each; return how many."""
    moment = now or timezone.now()
    ids = [n.pk for n in notifications]
    count = 0
    for row in (
        Notification.objects.select_for_update().filter(pk__in=ids).exclude(status=Notification.Status.DELIVERED)
    ):
        previous = row.status
        row.status = Notification.Status.PENDING
        row.attempts = 0
        row.next_attempt_at = moment
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            action=AUDIT_NOTIFICATION_RETRIED,
            actor_user=actor,
            obj=row,
            object_type="Notification",
            object_id=str(row.pk),
            summary=f"Notification {row.pk} to {row.third_party.name} queued again (was {previous})",
            detail={"kind": row.kind, "previous_status": previous, "last_status": row.last_status},
        )
        count += 1
    return count


# ---- Delivery ------------------------------------------------------------------------------------


def backoff_delay(*, attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
    """Return the wait after the ``attempts``-th failed attempt: base x 2^(attempts-1), capped, times a 0.5-1.0 jitter.

    The jitter spreads retries of many rows that failed together (a Third Party back from an
    outage is not hit by all of them at the same second).
    """
    base = float(_setting("NOTIFICATION_BACKOFF_BASE_SECONDS", 30))
    cap = float(_setting("NOTIFICATION_BACKOFF_MAX_SECONDS", 6 * 3600))
    exponential = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=exponential * (0.5 + 0.5 * rand()))


class NotifyUriRefused(Exception):
    """The Third Party's notify URI is not one the portal will POST to."""


def check_notify_uri(uri: str) -> None:
    """Refuse a notify URI that is empty, not http(s), or plain http outside DEBUG."""
    if not uri:
        raise NotifyUriRefused("The Third Party has no notify URI (thirdPartyNotifyUri).")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise NotifyUriRefused("The notify URI is not a valid URL.") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host and settings.DEBUG:
        return
    raise NotifyUriRefused(
        f"Refused notify URI scheme {parts.scheme or '(none)'!r}: notifications go only to https URIs "
        "(plain http only when DEBUG is on)."
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error: a notification is never re-sent to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects())


@dataclass(slots=True)
class PostResult:
    """The outcome of one BatchList POST: HTTP status if any, and an error text if it did not succeed."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


def post_batch_list(*, uri: str, body: bytes, timeout: float | None = None) -> PostResult:
    """POST a BatchList to ``uri`` (no redirects followed, bounded time); never raise for network trouble."""
    try:
        check_notify_uri(uri)
    except NotifyUriRefused as exc:
        return PostResult(status=None, error=str(exc))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above (https, or http in DEBUG)
        uri, data=body, method="POST", headers={"Content-Type": CONTENT_TYPE, "User-Agent": "greenbutton-custodian"}
    )
    limit = timeout if timeout is not None else float(_setting("NOTIFICATION_TIMEOUT_SECONDS", 10))
    try:
        with _opener.open(request, timeout=limit) as response:
            # Read a little so keep-alive servers see the exchange finish; the body itself is ignored.
            response.read(1024)
            return PostResult(status=response.status)
    except urllib.error.HTTPError as exc:
        # The reason phrase only: the response body could echo anything and is not recorded.
        status = exc.code
        hint = " (redirects are not followed)" if 300 <= status < 400 else ""
        return PostResult(status=status, error=f"HTTP {status} {exc.reason}{hint}")
    except urllib.error.URLError as exc:
        return PostResult(status=None, error=f"Connection failed: {exc.reason}")
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        # HTTPException: a receiver that answers something other than HTTP (BadStatusLine and kin).
        return PostResult(status=None, error=f"Connection failed: {type(exc).__name__}: {exc}"[:500])


@dataclass(slots=True)
class DeliveryReport:
    """What one delivery round did."""

    posts: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.delivered + self.retrying + self.failed


@dataclass(slots=True)
class _Claim:
    third_party_id: int
    notify_uri: str
    name: str
    ids: list[int]
    resources: list[str]


def notification_due_q(*, now: datetime) -> Q:
    """Return the condition for a notification the worker should try now."""
    return Q(status=Notification.Status.PENDING, next_attempt_at__lte=now)


@transaction.atomic
def _claim_due(*, now: datetime, limit: int, lease: timedelta) -> list[_Claim]:
    # Claiming pushes next_attempt_at past a lease and commits: another worker skips these rows, and
    # a worker that dies mid-POST leaves them due again once the lease ends (no attempt is counted).
    rows = list(
        Notification.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(notification_due_q(now=now))
        .order_by("next_attempt_at", "id")
        .values_list("id", "third_party_id", "resources")[:limit]
    )
    if not rows:
        return []
    ids = [row[0] for row in rows]
    Notification.objects.filter(pk__in=ids).update(next_attempt_at=now + lease, last_attempt_at=now)
    parties = {tp.pk: tp for tp in ThirdParty.objects.filter(pk__in={row[1] for row in rows})}
    claims: dict[int, _Claim] = {}
    for row_id, third_party_id, resources in rows:
        party = parties[third_party_id]
        claim = claims.setdefault(
            third_party_id, _Claim(third_party_id, party.notify_uri, party.name or party.client_id, [], [])
        )
        claim.ids.append(row_id)
        for uri in resources:
            if uri not in claim.resources:
                claim.resources.append(uri)
    # One POST per Third Party, of at most ROWS_PER_POST rows.
    split: list[_Claim] = []
    for claim in claims.values():
        for start in range(0, len(claim.ids), ROWS_PER_POST):
            part_ids = claim.ids[start : start + ROWS_PER_POST]
            part_resources = claim.resources if len(claim.ids) <= ROWS_PER_POST else _resources_of(part_ids, rows)
            split.append(_Claim(claim.third_party_id, claim.notify_uri, claim.name, part_ids, part_resources))
    return split


def _resources_of(ids: Sequence[int], rows: Sequence[tuple[int, int, list[str]]]) -> list[str]:
    wanted = set(ids)
    out: list[str] = []
    for row_id, _tp, resources in rows:
        if row_id in wanted:
            out.extend(uri for uri in resources if uri not in out)
    return out


@transaction.atomic
def _record_outcome(
    *, ids: Sequence[int], result: PostResult, now: datetime, rand: Callable[[], float], report: DeliveryReport
) -> None:
    rows = list(Notification.objects.select_for_update().filter(pk__in=list(ids), status=Notification.Status.PENDING))
    limit = max_attempts()
    for row in rows:
        row.attempts += 1
        row.last_attempt_at = now
        row.last_status = result.status
        if result.ok:
            row.status = Notification.Status.DELIVERED
            row.delivered_at = now
            row.last_error = ""
            report.delivered += 1
        elif row.attempts >= limit:
            row.status = Notification.Status.FAILED
            row.last_error = f"{result.error} (attempt {row.attempts} of {limit}: gave up)"
            report.failed += 1
        else:
            row.next_attempt_at = now + backoff_delay(attempts=row.attempts, rand=rand)
            row.last_error = f"{result.error} (attempt {row.attempts} of {limit})"
            report.retrying += 1
        row.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "last_status",
                "status",
                "delivered_at",
                "last_error",
                "next_attempt_at",
            ]
        )


def notification_deliver_due(
    *,
    now: datetime | None = None,
    limit: int = 500,
    rand: Callable[[], float] = random.random,
    post: Callable[..., PostResult] = post_batch_list,
    progress: Callable[[str], None] | None = None,
) -> DeliveryReport:
    """Deliver the due notifications: one BatchList POST per Third Party, outcomes recorded.

    Never called inside a transaction: the POSTs run between the claim and the outcome commits.
    ``now`` fixes the clock (tests); by default each outcome is stamped when its POST returns.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("Deliver notifications outside any transaction: the POSTs must not hold locks.")
    lease = timedelta(seconds=float(_setting("NOTIFICATION_TIMEOUT_SECONDS", 10)) * 3 + 60)
    report = DeliveryReport()
    claims = _claim_due(now=now or timezone.now(), limit=limit, lease=lease)
    for claim in claims:
        body = batch_list_document(resources=claim.resources)
        result = post(uri=claim.notify_uri, body=body)
        report.posts += 1
        if not result.ok:
            report.errors.append(f"{claim.name}: {result.error}")
        _record_outcome(ids=claim.ids, result=result, now=now or timezone.now(), rand=rand, report=report)
        if progress is not None:
            outcome = "delivered" if result.ok else f"failed ({result.error})"
            progress(f"{claim.name}: {len(claim.ids)} notification(s), {len(claim.resources)} URI(s): {outcome}")
    return report
