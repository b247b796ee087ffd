"""Writes about Third Parties, bulk users, grants and their tokens.

Every function here is atomic and leaves an audit row in the same transaction. Grant rows are
locked (``SELECT ... FOR UPDATE``) before they change, so a revocation waits for a batch that is
applying entries under that grant, and a batch that starts after it sees the grant revoked.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from oauth2_provider.models import get_access_token_model, get_refresh_token_model, set_token_value
from oauth2_provider.settings import oauth2_settings

from custodian.models import AuditEvent, RetailCustomer, UsagePoint
from custodian.services import audit_record, audit_record_many, saved_and_audited
from grants.approval import ApprovalCheck, third_party_approval_checklist
from grants.data_categories import CATEGORY_BY_KEY, CUSTOMER, RECORD_CHOICE_BY_KEY
from grants.emails import EXPIRY_NOTICE_DAYS, customer_email_send
from grants.models import BulkUser, Grant, GrantCode, GrantToken, GrantUsagePoint, Notification, ThirdParty
from grants.notifications import (
    PostResult,
    notification_enqueue_for_application_information,
    notification_enqueue_for_grant,
    notification_enqueue_for_grants,
    post_batch_list,
)
from grants.registration import RegistrationMetadata
from grants.scopes import (
    REGISTRATION_SCOPE,
    EspiScope,
    ScopeError,
    parse_scope,
    scope_with,
    scope_within_registered,
    utility_function_blocks,
)
from grants.tokens import token_checksum

_T = TypeVar("_T")


@transaction.atomic
def third_party_register(
    *,
    name: str,
    redirect_uris: str = "",
    registered_scopes: Iterable[str] = (),
    role: str = ThirdParty.Role.THIRD_PARTY,
    notify_uri: str = "",
    description: str = "",
    client_id: str | None = None,
    client_secret: str | None = None,
    lifecycle: int = ThirdParty.Lifecycle.REVIEW,
    actor: Any = None,
) -> tuple[ThirdParty, str]:
    """Register a Third Party (or back-office client) and return it with its raw client secret.

    The secret is stored hashed; the raw value is returned once, to be handed to the client.
    """
    scopes = registered_scopes_clean(registered_scopes)
    raw_secret = client_secret or secrets.token_urlsafe(48)
    third_party = ThirdParty(
        name=name,
        role=role,
        redirect_uris=redirect_uris,
        client_type=ThirdParty.CLIENT_CONFIDENTIAL,
        authorization_grant_type=(
            ThirdParty.GRANT_CLIENT_CREDENTIALS
            if role == ThirdParty.Role.CUSTODIAN
            else ThirdParty.GRANT_AUTHORIZATION_CODE
        ),
        client_secret=raw_secret,
        hash_client_secret=True,
        skip_authorization=False,
        notify_uri=notify_uri,
        description=description,
        registered_scopes="\n".join(scopes),
        lifecycle=lifecycle,
        software_id=name,
        software_version="1.0",
    )
    if client_id:
        third_party.client_id = client_id
    saved_and_audited(
        third_party,
        action=AuditEvent.Action.THIRD_PARTY_CREATED,
        actor=actor,
        exclude=["client_secret"],
        summary=f"Third Party {name} registered ({role})",
    )
    return third_party, raw_secret


@transaction.atomic
def third_party_registration_token_issue(*, third_party: ThirdParty, actor: Any = None) -> str:
    """Issue the Third Party's registration_access_token (scope ``FB=36_40``) and return its raw value once.

    It reaches only the Third Party's own ``ApplicationInformation/{id}`` and ``ReadServiceStatus``.
    Registration tokens issued this way before are revoked: staff hand out one at a time (those the
    Third Party obtains itself by client credentials live out their own lifetime). Only the token's
    checksum is stored; the value is never recorded.
    """
    if third_party.role != ThirdParty.Role.THIRD_PARTY:
        raise ValidationError(_("Only Third Parties have a registration access token."))
    access_token_model = get_access_token_model()
    previous = access_token_model.objects.filter(
        application=third_party, user__isnull=True, scope=REGISTRATION_SCOPE, grant_binding__isnull=True
    ).exclude(expires__lte=timezone.now())
    _revoke_tokens(access_tokens=list(previous))
    raw_token = secrets.token_urlsafe(32)
    token = access_token_model(
        application=third_party,
        user=None,
        scope=REGISTRATION_SCOPE,
        expires=timezone.now() + timedelta(seconds=settings.REGISTRATION_TOKEN_SECONDS),
    )
    set_token_value(token, raw_token)
    token.save()
    audit_record(
        action=AuditEvent.Action.TOKEN_ISSUED,
        actor_user=actor,
        obj=third_party,
        summary=f"Registration access token issued to {third_party.name}",
        detail={"scope": REGISTRATION_SCOPE, "expires": token.expires.isoformat()},
    )
    return raw_token


def _revoke_tokens(*, access_tokens: Iterable[Any]) -> int:
    """Revoke access tokens and the refresh tokens paired with them; return how many."""
    count = 0
    for token in access_tokens:
        refresh = get_refresh_token_model().objects.filter(access_token=token).first()
        if refresh is not None:
            refresh.revoke()
        else:
            token.revoke()
        count += 1
    return count


# Lifecycles whose row work (e-mails; for Revoked also grants and tokens) a sweep does after the change.
_SWEPT_LIFECYCLES = frozenset({ThirdParty.Lifecycle.ON_HOLD, ThirdParty.Lifecycle.REVOKED})


@transaction.atomic
def third_party_set_lifecycle(*, third_party: ThirdParty, lifecycle: int, actor: Any = None) -> ThirdParty:
    """Move a Third Party through Review, Production, On Hold, Revoked.

    The change is one row and takes effect at once for every request: a grant reaches data only
    while its Third Party is in Production (``selectors.active_grant_q``, ``Grant.is_active``) and
    a token works only while its client is (``ThirdParty.is_usable``). The row work follows in
    short batches (:func:`third_party_lifecycle_sweep`, queued when this commits): revoking a
    Third Party revokes every grant it holds and every token issued to it; On Hold and Revoked
    e-mail each customer with an active grant. On Hold keeps grants but lets them reach nothing
    until the Third Party is back in Production.
    """
    locked = ThirdParty.objects.select_for_update().get(pk=third_party.pk)
    if lifecycle not in ThirdParty.Lifecycle.values:
        raise ValidationError(_("Unknown lifecycle %(lifecycle)s.") % {"lifecycle": lifecycle})
    if locked.lifecycle == ThirdParty.Lifecycle.REVOKED and lifecycle != ThirdParty.Lifecycle.REVOKED:
        raise ValidationError(_("A revoked Third Party cannot be reinstated; register it again."))
    previous = locked.lifecycle
    locked.lifecycle = lifecycle
    locked.lifecycle_changed_at = timezone.now()
    locked.lifecycle_changed_by = actor if getattr(actor, "is_authenticated", False) else None
    if previous != lifecycle:
        # A new sweep from the first grant (an earlier one for another lifecycle stops where it was).
        locked.lifecycle_swept_to = 0 if lifecycle in _SWEPT_LIFECYCLES else None
    locked.save(
        update_fields=["lifecycle", "lifecycle_changed_at", "lifecycle_changed_by", "lifecycle_swept_to", "updated"]
    )
    with translation.override("en"):  # A stored summary: English whatever the staff member's language.
        summary = f"{locked.name}: {ThirdParty.Lifecycle(previous).label} → {ThirdParty.Lifecycle(lifecycle).label}"
    audit_record(
        action=AuditEvent.Action.THIRD_PARTY_STATUS_CHANGED,
        actor_user=actor,
        obj=locked,
        summary=summary,
        detail={"from": previous, "to": lifecycle},
    )
    notification_enqueue_for_application_information(third_party=locked)
    if locked.lifecycle_swept_to is not None:
        pk = locked.pk
        transaction.on_commit(lambda: _sweep_queue(third_party_id=pk))
    third_party.refresh_from_db()
    return locked


def _sweep_queue(*, third_party_id: int) -> None:
    from grants.tasks import third_party_lifecycle_sweep_task  # tasks import this module

    third_party_lifecycle_sweep_task.delay(third_party_id)


def third_party_lifecycle_sweep(*, third_party_id: int, batch_size: int | None = None) -> int:
    """Do the row work of a Third Party's On Hold or revocation, one short transaction per batch; return grants done.

    Continues where the last batch stopped (``ThirdParty.lifecycle_swept_to``), so a run that was
    interrupted, or two runs at once, do every grant once. Each batch locks the Third Party row
    first (the one lock order), then at most ``batch_size`` grants in id order.
    """
    size = batch_size or settings.GRANT_SWEEP_BATCH_SIZE
    done = 0
    while True:
        handled, finished = third_party_lifecycle_sweep_batch(third_party_id=third_party_id, batch_size=size)
        done += handled
        if finished:
            return done


def third_party_lifecycle_sweeps_due() -> list[int]:
    """Return the Third Parties whose lifecycle sweep has not finished (the beat picks up any lost one)."""
    return list(ThirdParty.objects.filter(lifecycle_swept_to__isnull=False).order_by("pk").values_list("pk", flat=True))


@transaction.atomic
def third_party_lifecycle_sweep_batch(*, third_party_id: int, batch_size: int) -> tuple[int, bool]:
    """Do one batch of a lifecycle sweep; return (grants handled, whether the sweep is finished).

    Revoked: the next active grants are revoked (status, their tokens, audit, notifications, the
    customer's e-mail), then, once no grant is left, the Third Party's other tokens, a batch at a
    time. On Hold: the customers of the next active grants are e-mailed. A constant number of
    queries per batch, whatever its size.
    """
    third_party = ThirdParty.objects.select_for_update().filter(pk=third_party_id).first()
    if third_party is None or third_party.lifecycle_swept_to is None:
        return 0, True
    if third_party.lifecycle not in _SWEPT_LIFECYCLES:
        _sweep_finish(third_party)
        return 0, True
    grants = list(
        Grant.objects.select_for_update(of=("self",))
        .select_related("customer__user", "third_party", "bulk_user")
        .filter(third_party=third_party, status=Grant.Status.ACTIVE, pk__gt=third_party.lifecycle_swept_to)
        .order_by("pk")[:batch_size]
    )
    revoking = third_party.lifecycle == ThirdParty.Lifecycle.REVOKED
    kind = "third_party_revoked" if revoking else "third_party_on_hold"
    if grants:
        if revoking:
            _grants_revoke_many(grants=grants, actor=third_party.lifecycle_changed_by, reason=THIRD_PARTY_REVOKED)
        for grant in grants:
            customer_email_send(grant=grant, kind=kind)
        third_party.lifecycle_swept_to = grants[-1].pk
        third_party.save(update_fields=["lifecycle_swept_to"])
        return len(grants), False
    if revoking:
        ids = list(
            get_access_token_model()
            .objects.filter(application=third_party)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        refresh = list(
            get_refresh_token_model()
            .objects.filter(application=third_party, revoked__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if ids or refresh:
            revoked = _tokens_revoke_many(access_token_ids=ids, refresh_token_ids=refresh)
            audit_record(
                action=AuditEvent.Action.TOKEN_REVOKED,
                actor_user=third_party.lifecycle_changed_by,
                obj=third_party,
                summary=f"{revoked} tokens of {third_party.name} revoked",
            )
            return 0, False
    _sweep_finish(third_party)
    return 0, True


def _sweep_finish(third_party: ThirdParty) -> None:
    third_party.lifecycle_swept_to = None
    third_party.save(update_fields=["lifecycle_swept_to"])


def _tokens_revoke_many(*, access_token_ids: list[int], refresh_token_ids: Iterable[int] = ()) -> int:
    """Revoke these access tokens and their refresh tokens, and these refresh tokens, in a few statements each.

    As django-oauth-toolkit's ``revoke()`` does one by one: an access token is deleted, a refresh
    token marked revoked (and unlinked from its access token). Returns the access tokens revoked.
    """
    now = timezone.now()
    refresh_model = get_refresh_token_model()
    if access_token_ids:
        refresh_model.objects.filter(access_token_id__in=access_token_ids).update(revoked=now, access_token=None)
    refresh = list(refresh_token_ids)
    if refresh:
        refresh_model.objects.filter(pk__in=refresh, revoked__isnull=True).update(revoked=now, access_token=None)
    if not access_token_ids:
        return 0
    get_access_token_model().objects.filter(pk__in=access_token_ids).delete()
    return len(access_token_ids)


def _grants_revoke_many(*, grants: list[Grant], actor: Any, reason: str) -> None:
    """Revoke these locked, active grants together: status, tokens, audit rows and notifications in a few statements."""
    now = timezone.now()
    ids = [grant.pk for grant in grants]
    revoked_by = actor if getattr(actor, "is_authenticated", False) else None
    Grant.objects.filter(pk__in=ids).update(
        status=Grant.Status.REVOKED, revoked_at=now, updated_at=now, revoked_by=revoked_by
    )
    tokens: dict[int, list[int]] = {}
    for token_id, grant_id in (
        get_access_token_model()
        .objects.filter(grant_binding__grant_id__in=ids)
        .values_list("pk", "grant_binding__grant_id")
    ):
        tokens.setdefault(grant_id, []).append(token_id)
    _tokens_revoke_many(access_token_ids=[t for ts in tokens.values() for t in ts])
    for grant in grants:
        grant.status, grant.revoked_at, grant.updated_at, grant.revoked_by = Grant.Status.REVOKED, now, now, revoked_by
    audit_record_many(
        events=(
            {
                "action": AuditEvent.Action.GRANT_REVOKED,
                "actor_user": actor,
                "customer": grant.customer,
                "obj": grant,
                "summary": f"Grant to {grant.third_party.name} revoked: {reason}",
                "detail": {"reason": reason, "tokens_revoked": len(tokens.get(grant.pk, ()))},
            }
            for grant in grants
        )
    )
    notification_enqueue_for_grants(grants=grants, kind=Notification.Kind.GRANT_REVOKED)


@transaction.atomic
def bulk_user_create(
    *, third_party: ThirdParty, bulk_id: str, name: str, description: str = "", actor: Any = None
) -> BulkUser:
    """Create a bulk user ``BR={bulk_id}`` owned by a Third Party."""
    bulk_user = BulkUser(third_party=third_party, bulk_id=bulk_id, name=name, description=description)
    return saved_and_audited(
        bulk_user,
        action=AuditEvent.Action.BULK_USER_CREATED,
        actor=actor,
        object_id=bulk_id,
        summary=f"Bulk user {name} (BR={bulk_id}) of {third_party.name} created",
    )


def _scope_for_grant(*, third_party: ThirdParty, scope: str | EspiScope, bulk_user: BulkUser | None) -> EspiScope:
    try:
        parsed = scope if isinstance(scope, EspiScope) else parse_scope(scope)
    except ScopeError as exc:
        raise ValidationError({"scope": str(exc)}) from exc
    if parsed.bulk_id is not None and (bulk_user is None or bulk_user.bulk_id != parsed.bulk_id):
        raise ValidationError(
            {"scope": _("BR=%(bulk_id)s does not name the chosen bulk user.") % {"bulk_id": parsed.bulk_id}}
        )
    if bulk_user is not None and parsed.bulk_id is None:
        parsed = EspiScope(**{**parsed.__dict__, "bulk_id": bulk_user.bulk_id})
    if not scope_within_registered(parsed, third_party=third_party):
        raise ValidationError({"scope": _("The scope is not within any scope the Third Party registered.")})
    return parsed


@transaction.atomic
def grant_create(
    *,
    customer: RetailCustomer,
    third_party: ThirdParty,
    usage_points: Iterable[UsagePoint],
    scope: str | EspiScope,
    authorized_start: datetime | None = None,
    authorized_end: datetime,
    bulk_user: BulkUser | None = None,
    consent: dict[str, Any] | None = None,
    actor: Any = None,
    replace_earlier: bool = False,
    customer_records: Iterable[str] = (),
) -> Grant:
    """Record a customer's consent: a grant of exactly these usage points for this scope and period.

    ``customer_records``: which of the customer's own records (``customer.xsd``) the grant shares,
    each chosen on its own; they need the Retail Customer function blocks in the scope.

    Refuses usage points of another customer, a bulk user of another Third Party, a Third Party
    not in Production, and a scope outside what the Third Party registered. With
    ``replace_earlier`` (consent given by the customer), the customer's active grant to the same
    Third Party, or the same bulk, ends as replaced by this one, so they never collect identical grants.
    """
    points = list(usage_points)
    if not points:
        raise ValidationError({"usage_points": _("Choose at least one usage point.")})
    if any(point.customer_id != customer.pk for point in points):
        raise ValidationError({"usage_points": _("Only your own usage points can be shared.")})
    if third_party.role != ThirdParty.Role.THIRD_PARTY or third_party.lifecycle != ThirdParty.Lifecycle.PRODUCTION:
        raise ValidationError(_("This Third Party is not accepting new grants."))
    if bulk_user is not None and bulk_user.third_party_id != third_party.pk:
        raise ValidationError({"bulk_user": _("The bulk user belongs to another Third Party.")})
    parsed = _scope_for_grant(third_party=third_party, scope=scope, bulk_user=bulk_user)
    records = grant_customer_records_validate(records=customer_records, function_blocks=parsed.function_blocks)
    # One grant per customer and Third Party (or bulk): the customer's row is locked so two consents
    # given at once are applied one after the other, and the second replaces the first.
    replaced: list[Grant] = []
    if replace_earlier:
        RetailCustomer.objects.select_for_update().filter(pk=customer.pk).first()
        replaced = list(grant_replaceable(customer=customer, third_party=third_party, bulk_user=bulk_user))
    start = authorized_start or timezone.now()
    grant = Grant(
        customer=customer,
        third_party=third_party,
        bulk_user=bulk_user,
        scope=parsed.format(),
        function_blocks=sorted(parsed.function_blocks),
        interval_duration=parsed.min_interval_seconds,
        block_duration="_".join(parsed.block_durations),
        history_length=parsed.history_length,
        authorized_start=start,
        authorized_end=authorized_end,
        consent=consent or {},
        customer_records=records,
    )
    grant.full_clean()
    grant.save()
    GrantUsagePoint.objects.bulk_create([GrantUsagePoint(grant=grant, usage_point=point) for point in points])
    audit_record(
        action=AuditEvent.Action.GRANT_CREATED,
        actor_user=actor,
        customer=customer,
        obj=grant,
        summary=f"Granted {third_party.name}{f' (bulk {bulk_user.bulk_id})' if bulk_user else ''} access to "
        f"{len(points)} usage point(s) until {authorized_end:%Y-%m-%d}",
        detail={
            "scope": grant.scope,
            "usage_points": [p.public_id for p in points],
            "bulk_id": bulk_user.bulk_id if bulk_user else None,
            "customer_records": records,
        },
    )
    for previous in replaced:
        grant_replace(grant=previous, replaced_by=grant, actor=actor)
    customer_email_send(grant=grant, kind="grant_created")
    # The outbox row commits or rolls back with the grant (delivered later by deliver_notifications).
    notification_enqueue_for_grant(grant=grant, kind=Notification.Kind.GRANT_CREATED)
    return grant


def grant_customer_records_validate(*, records: Iterable[str], function_blocks: Iterable[int]) -> list[str]:
    """Return the customer records a grant may share, in table order: only known choices, only with the Retail Customer blocks."""
    chosen = list(dict.fromkeys(records))
    unknown = [key for key in chosen if key not in RECORD_CHOICE_BY_KEY]
    if unknown:
        raise ValidationError(
            {"customer_records": _("Unknown customer records: %(records)s.") % {"records": ", ".join(unknown)}}
        )
    if chosen and not set(function_blocks) & CATEGORY_BY_KEY[CUSTOMER].function_blocks:
        raise ValidationError({"customer_records": _("Customer records need the Retail Customer function blocks.")})
    return [key for key in RECORD_CHOICE_BY_KEY if key in chosen]


def grant_replaceable(
    *, customer: RetailCustomer, third_party: ThirdParty, bulk_user: BulkUser | None
) -> QuerySet[Grant]:
    """Return the customer's active grants a new consent to this Third Party (or this bulk) replaces."""
    return Grant.objects.filter(
        customer=customer, third_party=third_party, bulk_user=bulk_user, status=Grant.Status.ACTIVE
    ).order_by("pk")


def grant_replace(*, grant: Grant, replaced_by: Grant, actor: Any = None) -> Grant:
    """End a grant because the customer gave the same Third Party (or bulk) a new one; it stays in history."""
    revoked = grant_revoke(grant=grant, actor=actor, reason=REPLACED)
    Grant.objects.filter(pk=revoked.pk).update(replaced_by=replaced_by)
    revoked.replaced_by = replaced_by
    return revoked


@transaction.atomic
def grant_record_denial(
    *,
    customer: RetailCustomer,
    third_party: ThirdParty,
    scope: str,
    bulk_user: BulkUser | None = None,
    actor: Any = None,
) -> None:
    """Record that a customer denied a Third Party's request (consent evidence, no grant)."""
    audit_record(
        action=AuditEvent.Action.GRANT_DENIED,
        actor_user=actor,
        customer=customer,
        obj=third_party,
        summary=f"Denied {third_party.name} access",
        detail={"scope": scope[:256], "bulk_id": bulk_user.bulk_id if bulk_user else None},
    )


def rows_lock_shared(*, model: type[Any], pks: Iterable[int]) -> None:
    """Take ``FOR SHARE`` row locks on these rows, in id order, until the transaction ends.

    A shared lock lets other writers under the same Third Party go on, but makes a lifecycle change
    (``FOR UPDATE``) wait, and waits for one. PostgreSQL only: SQLite runs one writer at a time.
    """
    ids = sorted(set(pks))
    connection = transaction.get_connection()
    if not ids or connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = ANY(%s) ORDER BY id FOR SHARE", [ids])  # noqa: S608


def grant_lock(
    *, grants: QuerySet[Grant], third_party: ThirdParty | None = None, bulk_user: BulkUser | None = None
) -> list[int]:
    """Lock for writing under these grants, in the one lock order; return the locked grants' ids.

    The order (docs/architecture.md, "One lock order"): the Third Party row (shared), then the bulk
    user row (shared), then the grant rows (for update) in id order. A revocation or On Hold waits
    for the locks and an upload that comes after it sees its result.
    """
    if third_party is not None:
        rows_lock_shared(model=ThirdParty, pks=[third_party.pk])
    if bulk_user is not None:
        rows_lock_shared(model=BulkUser, pks=[bulk_user.pk])
    return list(grants.select_for_update().order_by("pk").values_list("pk", flat=True))


def grant_lock_for_token(*, grant: Grant) -> bool:
    """Lock a grant to issue a token under it (lock order: its Third Party, then it); return whether it is active.

    Read again after the locks: a revocation or On Hold that committed first wins.
    """
    rows_lock_shared(model=ThirdParty, pks=[grant.third_party_id])
    rows_lock_shared(model=Grant, pks=[grant.pk])
    current = Grant.objects.select_related("third_party").filter(pk=grant.pk).first()
    return current is not None and current.is_active


REPLACED = "Replaced by a new grant"
THIRD_PARTY_REVOKED = "Third Party revoked by the utility"
# Revocations whose customer gets another e-mail instead: a new grant replaced it, or the Third Party was revoked.
_REVOCATIONS_TOLD_OTHERWISE = frozenset({REPLACED, THIRD_PARTY_REVOKED})


@transaction.atomic
def grant_revoke(*, grant: Grant, actor: Any = None, reason: str = "Revoked by the customer") -> Grant:
    """Revoke a whole grant: its tokens stop working at once and it leaves its bulk.

    Waits for any batch holding the grant's lock; nothing is written under the grant after this
    commits. Revoking a grant that is not active changes nothing.
    """
    rows_lock_shared(model=ThirdParty, pks=[grant.third_party_id])  # the one lock order: Third Party first
    locked = Grant.objects.select_for_update().get(pk=grant.pk)
    if locked.status != Grant.Status.ACTIVE:
        return locked
    now = timezone.now()
    locked.status = Grant.Status.REVOKED
    locked.revoked_at = now
    locked.updated_at = now
    locked.revoked_by = actor if getattr(actor, "is_authenticated", False) else None
    locked.save(update_fields=["status", "revoked_at", "updated_at", "revoked_by"])
    tokens = get_access_token_model().objects.filter(grant_binding__grant=locked)
    revoked = _revoke_tokens(access_tokens=list(tokens))
    audit_record(
        action=AuditEvent.Action.GRANT_REVOKED,
        actor_user=actor,
        customer=locked.customer,
        obj=locked,
        summary=f"Grant to {locked.third_party.name} revoked: {reason}",
        detail={"reason": reason, "tokens_revoked": revoked},
    )
    notification_enqueue_for_grant(grant=locked, kind=Notification.Kind.GRANT_REVOKED)
    if reason not in _REVOCATIONS_TOLD_OTHERWISE:
        customer_email_send(grant=locked, kind="grant_revoked")
    grant.refresh_from_db()
    return locked


@transaction.atomic
def grant_revoke_usage_point(*, grant: Grant, usage_point: UsagePoint, actor: Any = None) -> Grant:
    """Take one usage point back from a grant; revoking its last usage point revokes the grant."""
    rows_lock_shared(model=ThirdParty, pks=[grant.third_party_id])
    locked = Grant.objects.select_for_update().get(pk=grant.pk)
    link = GrantUsagePoint.objects.filter(grant=locked, usage_point=usage_point, revoked_at__isnull=True).first()
    if link is None:
        raise ValidationError(_("That usage point is not part of this grant."))
    now = timezone.now()
    link.revoked_at = now
    link.save(update_fields=["revoked_at"])
    locked.updated_at = now
    locked.save(update_fields=["updated_at"])
    audit_record(
        action=AuditEvent.Action.GRANT_USAGE_POINT_REVOKED,
        actor_user=actor,
        customer=locked.customer,
        obj=locked,
        summary=f"Usage point {usage_point.title or usage_point.public_id} removed from grant to {locked.third_party.name}",
        detail={"usage_point": usage_point.public_id},
    )
    if not GrantUsagePoint.objects.filter(grant=locked, revoked_at__isnull=True).exists():
        return grant_revoke(grant=locked, actor=actor, reason="Last usage point removed")
    notification_enqueue_for_grant(grant=locked, kind=Notification.Kind.GRANT_CHANGED)
    return locked


@transaction.atomic
def grant_customer_records_revoke(*, grant: Grant, records: Iterable[str], actor: Any = None) -> Grant:
    """Stop sharing some of the customer's own records under a grant, keeping its usage data.

    When no record is left shared, the Retail Customer function blocks leave the grant's scope too
    (its Authorization then says so); the Third Party is notified as for any change of the grant.
    """
    rows_lock_shared(model=ThirdParty, pks=[grant.third_party_id])  # the one lock order: Third Party first
    locked = Grant.objects.select_for_update().get(pk=grant.pk)
    taken = [key for key in dict.fromkeys(records) if key in locked.customer_records]
    if not taken:
        raise ValidationError(_("Those records are not shared under this grant."))
    locked.customer_records = [key for key in locked.customer_records if key not in taken]
    if not locked.customer_records:
        parsed = parse_scope(locked.scope)
        remaining = frozenset(parsed.function_blocks) - CATEGORY_BY_KEY[CUSTOMER].function_blocks
        locked.scope = scope_with(parsed, function_blocks=remaining).format()
        locked.function_blocks = sorted(remaining)
    locked.updated_at = timezone.now()
    locked.save(update_fields=["customer_records", "scope", "function_blocks", "updated_at"])
    audit_record(
        action=AuditEvent.Action.GRANT_RECORDS_REVOKED,
        actor_user=actor,
        customer=locked.customer,
        obj=locked,
        summary=f"Customer records ({', '.join(taken)}) no longer shared with {locked.third_party.name}",
        detail={"records": taken, "still_shared": locked.customer_records},
    )
    notification_enqueue_for_grant(grant=locked, kind=Notification.Kind.GRANT_CHANGED)
    return locked


def grant_expire_due(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Mark active grants whose authorized period has ended as expired, in short batches; return how many.

    They already reach nothing (``active_grant_q`` compares the end with now at every request):
    this is the row work (status, tokens, audit, notifications, e-mail). Each batch is one short
    transaction with a constant number of queries; a grant another transaction holds (an upload,
    a revocation) is skipped and left to the next run, so nobody waits behind the sweep.
    """
    moment = now or timezone.now()
    size = batch_size or settings.GRANT_SWEEP_BATCH_SIZE
    count = 0
    while expired := grant_expire_batch(moment=moment, batch_size=size):
        count += expired
    grant_expiry_notices_send(now=moment)
    return count


@transaction.atomic
def grant_expire_batch(*, moment: datetime, batch_size: int) -> int:
    """Expire at most ``batch_size`` due grants in one transaction; return how many (0: none left to do now)."""
    due = Grant.objects.filter(status=Grant.Status.ACTIVE, authorized_end__lte=moment)
    third_parties = sorted(set(due.order_by("pk").values_list("third_party_id", flat=True)[:batch_size]))
    if not third_parties:
        return 0
    rows_lock_shared(model=ThirdParty, pks=third_parties)  # the one lock order: Third Parties first
    grants = list(
        due.filter(third_party_id__in=third_parties)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("customer__user", "third_party", "bulk_user")
        .order_by("pk")[:batch_size]
    )
    if not grants:
        return 0  # all held by others right now: the next run expires them
    ids = [grant.pk for grant in grants]
    Grant.objects.filter(pk__in=ids).update(status=Grant.Status.EXPIRED, updated_at=moment)
    for grant in grants:
        grant.status, grant.updated_at = Grant.Status.EXPIRED, moment
    _tokens_revoke_many(
        access_token_ids=list(
            get_access_token_model().objects.filter(grant_binding__grant_id__in=ids).values_list("pk", flat=True)
        )
    )
    audit_record_many(
        events=(
            {
                "action": AuditEvent.Action.GRANT_EXPIRED,
                "customer": grant.customer,
                "obj": grant,
                "summary": f"Grant to {grant.third_party.name} expired",
            }
            for grant in grants
        )
    )
    notification_enqueue_for_grants(grants=grants, kind=Notification.Kind.GRANT_EXPIRED)
    for grant in grants:
        customer_email_send(grant=grant, kind="grant_expired")
    return len(grants)


def grant_expiry_notices_send(*, now: datetime | None = None) -> int:
    """E-mail each customer whose active grant ends within 30 days, once per grant; return how many.

    Each grant is claimed by one conditional UPDATE in its own transaction (no lock held across
    grants, so the lock order stays the Third Party's, then the grant's), so two runs never send twice.
    """
    moment = now or timezone.now()
    due = Grant.objects.filter(
        status=Grant.Status.ACTIVE,
        expiry_notice_sent_at__isnull=True,
        authorized_end__gt=moment,
        authorized_end__lte=moment + timedelta(days=EXPIRY_NOTICE_DAYS),
    )
    count = 0
    for pk in list(due.order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            if not due.filter(pk=pk).update(expiry_notice_sent_at=moment):
                continue
            grant = Grant.objects.select_related("customer__user", "third_party").get(pk=pk)
            customer_email_send(grant=grant, kind="grant_expiring")
            count += 1
    return count


@transaction.atomic
def grant_token_issue(*, grant: Grant, raw_token: str, expires_in: timedelta | None = None) -> Any:
    """Issue (or renew) an access token with a known value bound to ``grant``.

    For demo data and back-office tooling; third parties get theirs through ``/oauth/token``.
    """
    access_token_model = get_access_token_model()
    lifetime = expires_in or timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    token = access_token_model.objects.filter(token_checksum=token_checksum(raw_token)).first()
    renewing = token is not None
    if token is None:
        token = access_token_model(user=grant.customer.user, application=grant.third_party, scope=grant.scope)
        set_token_value(token, raw_token)
    token.expires = timezone.now() + lifetime
    token.scope = grant.scope
    token.save()
    GrantToken.objects.get_or_create(access_token=token, defaults={"grant": grant})
    if renewing:
        return token
    audit_record(
        action=AuditEvent.Action.TOKEN_ISSUED,
        actor_client=grant.third_party,
        customer=grant.customer,
        obj=grant,
        summary=f"Access token issued to {grant.third_party.name}",
    )
    return token


@transaction.atomic
def grant_consent_approve(
    *,
    customer: RetailCustomer,
    third_party: ThirdParty,
    usage_points: Iterable[UsagePoint],
    scope: str | EspiScope,
    authorized_end: datetime,
    bulk_user: BulkUser | None = None,
    consent: dict[str, Any] | None = None,
    actor: Any = None,
    issue_code: Callable[[Grant], _T] | None = None,
    customer_records: Iterable[str] = (),
) -> tuple[Grant, _T | None]:
    """Create the grant a customer approved and, in the same transaction, the authorization code for it.

    ``issue_code`` runs inside the transaction; if it raises (the OAuth request turned out invalid),
    the grant is rolled back with it, so no grant exists without the code that was promised.
    """
    grant = grant_create(
        customer=customer,
        third_party=third_party,
        usage_points=usage_points,
        scope=scope,
        authorized_end=authorized_end,
        bulk_user=bulk_user,
        consent=consent,
        actor=actor,
        replace_earlier=True,
        customer_records=customer_records,
    )
    issued = issue_code(grant) if issue_code is not None else None
    return grant, issued


@transaction.atomic
def grant_code_bind(*, grant: Grant, authorization_code: Any) -> GrantCode:
    """Bind a new authorization code to the grant created at consent; refuse a grant that is not active."""
    if not grant.is_active:
        raise ValidationError(_("The grant is not active."))
    return GrantCode.objects.create(
        authorization_code=authorization_code,
        grant=grant,
        code_checksum=token_checksum(authorization_code.code),
    )


@transaction.atomic
def grant_code_replay_revoke(*, client: ThirdParty, code: str) -> int:
    """Revoke the tokens issued from an authorization code presented again after its exchange; return how many.

    RFC 6749 section 4.1.2: a code used twice is refused and the tokens issued from it SHOULD be
    revoked. The consent that issued the code created its grant, so they are the grant's tokens.
    Another client's code, or one never issued, changes nothing.
    """
    binding = (
        GrantCode.objects.select_related("grant")
        .filter(code_checksum=token_checksum(code), authorization_code__isnull=True, grant__third_party=client)
        .first()
    )
    if binding is None:
        return 0
    tokens = get_access_token_model().objects.filter(grant_binding__grant=binding.grant)
    revoked = _revoke_tokens(access_tokens=list(tokens))
    audit_record(
        action=AuditEvent.Action.TOKEN_REVOKED,
        actor_client=client,
        customer=binding.grant.customer,
        obj=binding.grant,
        summary=f"Authorization code of {client.name} replayed: {revoked} token(s) issued from it revoked",
        detail={"reason": "code_replay", "tokens_revoked": revoked},
    )
    return revoked


@transaction.atomic
def token_issue_record(*, access_token: Any, grant: Grant | None, grant_type: str) -> None:
    """Bind a newly issued access token to its grant (code and refresh flows) and audit the issue.

    Client-credentials tokens have no grant: they are bound to their client. The token value is
    never recorded.
    """
    client = access_token.application
    if grant is not None:
        GrantToken.objects.create(access_token=access_token, grant=grant)
    audit_record(
        action=AuditEvent.Action.TOKEN_ISSUED,
        actor_client=client,
        customer=grant.customer if grant is not None else None,
        obj=grant if grant is not None else client,
        summary=f"{'Access' if grant is not None else 'Client'} token issued to {client.name} ({grant_type})",
        detail={
            "grant_type": grant_type,
            "scope": access_token.scope[:256],
            "expires": access_token.expires.isoformat(),
        },
    )


@transaction.atomic
def token_revocation_record(*, client: ThirdParty, grant: Grant | None, token_type: str) -> None:
    """Audit a token a client revoked at the revocation endpoint (RFC 7009)."""
    audit_record(
        action=AuditEvent.Action.TOKEN_REVOKED,
        actor_client=client,
        customer=grant.customer if grant is not None else None,
        obj=grant if grant is not None else client,
        summary=f"{client.name} revoked its {token_type.replace('_', ' ')}",
        detail={"token_type": token_type},
    )


# ---- Staff registration, information changes, secret rotation and approval (the admin) ----------

#: ApplicationInformation fields staff set at registration and may change afterwards.
THIRD_PARTY_INFORMATION_FIELDS = (
    "name",
    "redirect_uris",
    "registered_scopes",
    "description",
    "application_type",
    "application_use",
    "phone",
    "notify_uri",
    "user_portal_uri",
    "logo_uri",
    "client_uri",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
    "contacts",
    "scope_selection_uri",
    "espi_compatibility",
)
# Set by staff on an existing Third Party (admin change form): the daily notice opt-in and its rate limits.
THIRD_PARTY_OPERATING_FIELDS = (
    "daily_new_data_notice",
    "rate_limit_per_second",
    "rate_limit_per_hour",
    "rate_limit_per_day",
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client is handed once at registration or rotation; none of it is stored in the clear."""

    third_party: ThirdParty
    client_secret: str
    registration_token: str | None = None


def _scope_lines(value: str | Iterable[str]) -> list[str]:
    lines = value.splitlines() if isinstance(value, str) else list(value)
    return [line.strip() for line in lines if line.strip()]


def registered_scopes_clean(value: str | Iterable[str]) -> list[str]:
    """Return the registered scope lines, stripped; raise ValidationError naming the first that does not parse."""
    scopes = _scope_lines(value)
    for scope in scopes:
        try:
            parse_scope(scope)
        except ScopeError as exc:
            raise ValidationError({"registered_scopes": f"{scope!r}: {exc}"}) from exc
    return scopes


def _apply_information(third_party: ThirdParty, information: Mapping[str, Any]) -> list[str]:
    """Set the allowed ApplicationInformation fields on ``third_party``; return the names that changed."""
    unknown = set(information) - set(THIRD_PARTY_INFORMATION_FIELDS) - set(THIRD_PARTY_OPERATING_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown Third Party fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    changed = []
    for name, value in information.items():
        if name == "registered_scopes":
            value = "\n".join(registered_scopes_clean(value))
        elif name == "redirect_uris":
            value = " ".join(value.split())
        if getattr(third_party, name) != value:
            setattr(third_party, name, value)
            changed.append(name)
    return changed


def third_party_check_role_fields(*, role: str, information: Mapping[str, Any]) -> None:
    """Refuse redirect URIs for a back-office client: it uses client credentials only, never a customer's consent."""
    if role == ThirdParty.Role.CUSTODIAN and str(information.get("redirect_uris") or "").strip():
        raise ValidationError(
            {"redirect_uris": _("A back-office client uses client credentials only: no redirect URI.")}
        )


@transaction.atomic
def third_party_register_by_staff(
    *,
    role: str = ThirdParty.Role.THIRD_PARTY,
    information: Mapping[str, Any],
    bulk_users: Iterable[tuple[str, str]] = (),
    actor: Any = None,
) -> Credentials:
    """Register a Third Party (or back-office client) in Review with its ApplicationInformation and bulk users.

    Returns the raw client secret once (it is stored hashed) and, for a Third Party, its
    registration_access_token (``FB=36_40``, only its checksum stored), also shown once.
    """
    if role not in ThirdParty.Role.values:
        raise ValidationError({"role": _("Unknown role %(role)r.") % {"role": role}})
    details = dict(information)
    third_party_check_role_fields(role=role, information=details)
    third_party, raw_secret = third_party_register(
        name=details.get("name", ""),
        role=role,
        redirect_uris=" ".join(details.get("redirect_uris", "").split()),
        registered_scopes=_scope_lines(details.get("registered_scopes", "")),
        notify_uri=details.get("notify_uri", ""),
        description=details.get("description", ""),
        actor=actor,
    )
    defaults = {"software_id": third_party.software_id, "software_version": third_party.software_version}
    _apply_information(third_party, {**details, **{k: v for k, v in defaults.items() if not details.get(k)}})
    third_party.full_clean(exclude=["client_secret"])
    third_party.save()
    for bulk_id, bulk_name in bulk_users:
        bulk_user_create(third_party=third_party, bulk_id=bulk_id, name=bulk_name, actor=actor)
    registration_token = (
        third_party_registration_token_issue(third_party=third_party, actor=actor)
        if role == ThirdParty.Role.THIRD_PARTY
        else None
    )
    return Credentials(third_party=third_party, client_secret=raw_secret, registration_token=registration_token)


@transaction.atomic
def third_party_update(*, third_party: ThirdParty, information: Mapping[str, Any], actor: Any = None) -> ThirdParty:
    """Change a Third Party's ApplicationInformation; audit which fields changed (never the client secret)."""
    locked = ThirdParty.objects.select_for_update().get(pk=third_party.pk)
    third_party_check_role_fields(role=locked.role, information=information)
    changed = _apply_information(locked, information)
    if not changed:
        return locked
    saved_and_audited(
        locked,
        action=AuditEvent.Action.THIRD_PARTY_UPDATED,
        actor=actor,
        exclude=["client_secret"],
        update_fields=[*changed, "updated"],
        summary=f"{locked.name}: {', '.join(changed)} changed",
        detail={"fields": changed},
    )
    notification_enqueue_for_application_information(third_party=locked)
    return locked


@transaction.atomic
def third_party_set_lenient_uploads(*, third_party: ThirdParty, lenient: bool, actor: Any = None) -> ThirdParty:
    """Set whether the client's batch uploads are read in lenient mode (PRODUCT rule 10); audited."""
    locked = ThirdParty.objects.select_for_update().get(pk=third_party.pk)
    if locked.lenient_uploads == lenient:
        return locked
    locked.lenient_uploads = lenient
    locked.save(update_fields=["lenient_uploads", "updated"])
    audit_record(
        action=AuditEvent.Action.THIRD_PARTY_UPDATED,
        actor_user=actor,
        obj=locked,
        summary=f"{locked.name}: lenient uploads {'on' if lenient else 'off'}",
        detail={"fields": ["lenient_uploads"], "lenient_uploads": lenient},
    )
    return locked


@transaction.atomic
def third_party_rotate_secret(*, third_party: ThirdParty, actor: Any = None) -> Credentials:
    """Replace a client's secret: the new one is returned once, the old one stops authenticating at once.

    Client-credentials tokens (bound to no grant) obtained with the old secret are revoked too;
    tokens a customer's consent issued stay, and refreshing them needs the new secret.
    """
    locked = ThirdParty.objects.select_for_update().get(pk=third_party.pk)
    if locked.lifecycle == ThirdParty.Lifecycle.REVOKED:
        raise ValidationError(_("A revoked Third Party has no secret to rotate; register it again."))
    raw_secret = secrets.token_urlsafe(48)
    locked.client_secret = raw_secret
    locked.hash_client_secret = True
    locked.save(update_fields=["client_secret", "hash_client_secret", "updated"])
    client_tokens = get_access_token_model().objects.filter(application=locked, grant_binding__isnull=True)
    revoked = _revoke_tokens(access_tokens=list(client_tokens))
    audit_record(
        action=AuditEvent.Action.THIRD_PARTY_SECRET_ROTATED,
        actor_user=actor,
        obj=locked,
        summary=f"Client secret of {locked.name} rotated",
        detail={"client_tokens_revoked": revoked},
    )
    return Credentials(third_party=locked, client_secret=raw_secret)


@transaction.atomic
def third_party_register_again(*, third_party: ThirdParty, actor: Any = None) -> Credentials:
    """Register a revoked Third Party again as a new client (new client id, secret and id, in Review).

    Its ApplicationInformation and bulk users are copied; its grants stay with the revoked client,
    so customers consent again. The new client gets a new registration_access_token
    (``third_party_register_by_staff`` issues it); the revoked one's tokens were revoked with it.
    """
    if third_party.lifecycle != ThirdParty.Lifecycle.REVOKED:
        raise ValidationError(_("Only a revoked Third Party is registered again."))
    information = {name: getattr(third_party, name) for name in THIRD_PARTY_INFORMATION_FIELDS}
    credentials = third_party_register_by_staff(
        role=third_party.role,
        information=information,
        bulk_users=[(bulk.bulk_id, bulk.name) for bulk in third_party.bulk_users.all()],
        actor=actor,
    )
    audit_record(
        action=AuditEvent.Action.THIRD_PARTY_CREATED,
        actor_user=actor,
        obj=credentials.third_party,
        summary=f"{third_party.name} registered again (replaces revoked client {third_party.public_id})",
        detail={"replaces": third_party.public_id},
    )
    return credentials


def third_party_approve(
    *, third_party: ThirdParty, actor: Any = None, post: Callable[..., PostResult] = post_batch_list
) -> list[ApprovalCheck]:
    """Run the approval checklist and move the Third Party to Production only if every check passed.

    Returns the checks. The checklist (with its test notification) runs before any transaction
    opens; the outcome is audited either way.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("Approve outside any transaction: the test notification must not hold locks.")
    if third_party.lifecycle == ThirdParty.Lifecycle.REVOKED:
        raise ValidationError(_("A revoked Third Party cannot be reinstated; register it again."))
    checks = third_party_approval_checklist(third_party=third_party, post=post)
    passed = all(check.ok for check in checks)
    with transaction.atomic():
        audit_record(
            action=AuditEvent.Action.THIRD_PARTY_APPROVAL_CHECKED,
            actor_user=actor,
            obj=third_party,
            summary=f"Approval checklist of {third_party.name}: {'passed' if passed else 'failed'}",
            detail={"checks": [check.as_dict() for check in checks]},  # English: as_dict
        )
        if passed:
            third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.PRODUCTION, actor=actor)
    return checks


@transaction.atomic
def third_party_register_dynamic(*, metadata: RegistrationMetadata, source_address: str = "") -> Credentials:
    """Register a Third Party that asked for itself by RFC 7591 dynamic registration (FB 36).

    It starts in Review, like a staff registration: it reaches nothing until staff approve it to
    Production after the checklist. Returns its client secret and registration_access_token once.
    """
    if not settings.OAUTH_DYNAMIC_REGISTRATION:
        raise ValidationError(_("Dynamic registration is turned off (OAUTH_DYNAMIC_REGISTRATION)."))
    credentials = third_party_register_by_staff(role=ThirdParty.Role.THIRD_PARTY, information=metadata.information)
    audit_record(
        action=AuditEvent.Action.THIRD_PARTY_CREATED,
        obj=credentials.third_party,
        summary=f"{credentials.third_party.name} registered itself (RFC 7591 dynamic registration), in Review",
        detail={
            "via": "rfc7591",
            "source_address": source_address[:64],
            "grant_types": list(metadata.grant_types),
            "scopes": credentials.third_party.registered_scope_list,
        },
    )
    return credentials


# ---- Offline authorization (ESPI FB 40): a customer's signed paper authorization, recorded by staff ----


@dataclass(frozen=True, slots=True)
class OfflineAuthorization:
    """What recording a paper authorization yields: the grant and its tokens, raw values handed over once."""

    grant: Grant
    access_token: str
    refresh_token: str


@transaction.atomic
def grant_record_offline(
    *,
    customer: RetailCustomer,
    third_party: ThirdParty,
    usage_points: Iterable[UsagePoint],
    scope: str | EspiScope,
    authorized_end: datetime,
    evidence_reference: str,
    signed_on: date,
    authorized_start: datetime | None = None,
    bulk_user: BulkUser | None = None,
    actor: Any = None,
) -> OfflineAuthorization:
    """Record a customer's signed paper authorization (FB 40) as the same grant, Authorization and token an online one yields.

    The grant goes through ``grant_create`` (the same checks: the customer's own usage points, a Third
    Party in Production, a scope within what it registered, narrowed to the utility's function blocks;
    it replaces the customer's earlier grant to the same Third Party or bulk), so the Third Party is
    notified of the new Authorization. Its consent evidence says ``offline``, with the paper's
    reference, the day it was signed and the staff member who recorded it. An access token and a
    refresh token bound to the grant are issued; their raw values are returned once (only checksums
    are stored) for staff to hand to the Third Party.
    """
    reference = evidence_reference.strip()
    if not reference:
        raise ValidationError({"evidence_reference": _("Name the signed paper authorization (its reference).")})
    if signed_on > timezone.localdate(timezone=timezone.get_default_timezone()):
        raise ValidationError({"signed_on": _("The authorization cannot be signed in the future.")})
    if authorized_end <= max(authorized_start or timezone.now(), timezone.now()):
        raise ValidationError({"authorized_end": _("The authorized period has already ended.")})
    try:
        parsed = scope if isinstance(scope, EspiScope) else parse_scope(scope)
        parsed = scope_with(parsed, function_blocks=parsed.function_blocks & utility_function_blocks())
    except ScopeError as exc:
        raise ValidationError({"scope": str(exc)}) from exc
    if not parsed.function_blocks:
        raise ValidationError({"scope": _("None of these function blocks is offered by the utility.")})
    points = list(usage_points)
    now = timezone.now()
    grant = grant_create(
        customer=customer,
        third_party=third_party,
        usage_points=points,
        scope=parsed,
        authorized_start=authorized_start,
        authorized_end=authorized_end,
        bulk_user=bulk_user,
        consent={
            "flow": "offline",
            "evidence_reference": reference[:200],
            "signed_on": signed_on.isoformat(),
            "recorded_by": getattr(actor, "username", "") or "",
            "at": now.isoformat(),
            "chosen": {
                "usage_points": [point.public_id for point in points],
                "function_blocks": sorted(parsed.function_blocks),
                "scope": parsed.format(),
                "until": authorized_end.isoformat(),
            },
        },
        actor=actor,
        replace_earlier=True,
    )
    access_model, refresh_model = get_access_token_model(), get_refresh_token_model()
    raw_access, raw_refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    access = access_model(
        user=customer.user,
        application=third_party,
        scope=grant.scope,
        expires=now + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
    )
    set_token_value(access, raw_access)
    access.save()
    refresh = refresh_model(user=customer.user, application=third_party, access_token=access)
    set_token_value(refresh, raw_refresh)
    refresh.save()
    token_issue_record(access_token=access, grant=grant, grant_type="offline_authorization")
    audit_record(
        action=AuditEvent.Action.GRANT_CREATED,
        actor_user=actor,
        customer=customer,
        obj=grant,
        summary=f"Offline authorization recorded for {third_party.name} (paper reference {reference[:80]})",
        detail={"flow": "offline", "evidence_reference": reference[:200], "signed_on": signed_on.isoformat()},
    )
    return OfflineAuthorization(grant=grant, access_token=raw_access, refresh_token=raw_refresh)
