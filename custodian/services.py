"""Writes for customers and usage points, and the audit log writer every app uses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict, TypeVar, Unpack

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Model
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from custodian.models import (
    AuditCount,
    AuditEvent,
    CustomerRecord,
    LocalTimeParameters,
    RetailCustomer,
    ServiceKind,
    UsagePoint,
)
from custodian.selectors import customer_language, language_supported


class AuditDetails(TypedDict, total=False):
    """What an audit row records besides its action, who acted and on what (``saved_and_audited`` fills those)."""

    summary: str
    actor_client: Any
    customer: RetailCustomer | None
    object_type: str
    object_id: str
    detail: dict[str, Any] | None


class AuditFields(AuditDetails, total=False):
    """What one audit row records besides its action (``audit_record``'s keyword arguments)."""

    actor_user: Any
    obj: Any


def audit_record(*, action: str, **fields: Unpack[AuditFields]) -> AuditEvent:
    """Append one audit row. Call it inside the transaction of the change it records."""
    event = _audit_event(action=action, **fields)
    event.save(force_insert=True)
    return event


_M = TypeVar("_M", bound=Model)


def saved_and_audited(
    instance: _M,
    *,
    action: str,
    actor: Any = None,
    update_fields: list[str] | None = None,
    exclude: list[str] | None = None,
    **fields: Unpack[AuditDetails],
) -> _M:
    """Validate and save ``instance`` (only ``update_fields``, if given), then append its audit row naming it.

    The one shape of a service's write: ``full_clean`` (``exclude`` passed on), ``save``, and
    ``audit_record`` with ``obj=instance`` and ``actor`` as the acting user, in the caller's transaction.
    """
    instance.full_clean(exclude=exclude)
    instance.save(update_fields=update_fields)
    audit_record(action=action, actor_user=actor, obj=instance, **fields)
    return instance


def audit_record_many(*, events: Iterable[dict[str, Any]]) -> list[AuditEvent]:
    """Append many audit rows with one INSERT per 500; each dict takes ``audit_record``'s arguments."""
    rows = [_audit_event(**event) for event in events]
    return AuditEvent.objects.bulk_create(rows, batch_size=500) if rows else []


def audit_count_add(*, action: str, actor_client: Any, day: date, by: int = 1) -> None:
    """Add ``by`` to the ``day`` counter of ``action`` by ``actor_client``: one row per action, client and day."""
    lookup = {"action": action, "actor_client": actor_client, "day": day}
    with transaction.atomic():
        if AuditCount.objects.filter(**lookup).update(count=F("count") + by):
            return
        try:
            with transaction.atomic():  # a savepoint: a concurrent first count of the day may win the insert
                AuditCount.objects.create(**lookup, count=by)
        except IntegrityError:
            AuditCount.objects.filter(**lookup).update(count=F("count") + by)


def _audit_event(
    *,
    action: str,
    summary: str = "",
    actor_user: Any = None,
    actor_client: Any = None,
    customer: RetailCustomer | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Build (not save) one audit row; the keyword arguments are ``AuditFields`` and the action."""
    if obj is not None:
        object_type = object_type or type(obj).__name__
        object_id = object_id or str(getattr(obj, "public_id", None) or obj.pk)
    return AuditEvent(
        action=action,
        summary=summary[:300],
        actor_user=actor_user if getattr(actor_user, "is_authenticated", False) else None,
        actor_client=actor_client,
        customer=customer,
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
    )


@transaction.atomic
def retail_customer_create(
    *, username: str, password: str, name: str, email: str = "", actor: Any = None
) -> RetailCustomer:
    """Create a portal login and its retail customer."""
    user = get_user_model()(username=username, email=email)
    user.set_password(password)
    return _retail_customer_insert(user=user, name=name, actor=actor)


def _retail_customer_insert(*, user: Any, name: str, actor: Any) -> RetailCustomer:
    """Insert a login (its password already set or made unusable) and its retail customer; audit it."""
    user.full_clean()
    user.save()
    customer = RetailCustomer(user=user, name=name)
    return saved_and_audited(
        customer,
        action=AuditEvent.Action.CUSTOMER_CREATED,
        actor=actor,
        customer=customer,
        summary=f"Customer {name} created",
    )


@transaction.atomic
def usage_point_create(
    *,
    customer: RetailCustomer,
    title: str,
    service_kind: int = 0,
    local_time_parameters: LocalTimeParameters | None = None,
    actor: Any = None,
) -> UsagePoint:
    """Create a usage point for a customer."""
    usage_point = UsagePoint(
        customer=customer, title=title, service_kind=service_kind, status=1, local_time_parameters=local_time_parameters
    )
    return saved_and_audited(
        usage_point,
        action=AuditEvent.Action.USAGE_POINT_CREATED,
        actor=actor,
        customer=customer,
        summary=f"Usage point {title} created",
    )


@dataclass(frozen=True, slots=True)
class Onboarding:
    """What onboarding did for one customer: created or found, usage points added, invitation queued."""

    customer: RetailCustomer
    created: bool
    usage_points_created: int
    invited: bool


def _clean_titles(titles: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for title in titles:
        title = title.strip()
        if title and title not in seen:
            seen.append(title)
    return seen


@transaction.atomic
def retail_customer_onboard(
    *,
    username: str,
    email: str,
    name: str,
    usage_point_titles: Iterable[str],
    service_kind: int = 0,
    invite: bool = True,
    language: str = "",
    actor: Any = None,
) -> Onboarding:
    """Create a customer with a login (no password yet), e-mail and usage points, and invite them.

    Idempotent: the same customer again (same username and e-mail) adds only the usage points it
    lacks (by title) and sends no second invitation. A username held by someone with another
    e-mail is refused. The invitation is mailed after commit, so a rolled-back onboarding sends none.
    ``language`` (a code of LANGUAGES; blank: the utility's LANGUAGE_CODE) is the new customer's, so the
    invitation and every later e-mail are written in it.
    """
    username, email, name = username.strip(), email.strip().lower(), name.strip()
    titles = _clean_titles(usage_point_titles)
    if not titles:
        raise ValidationError({"usage_points": _("Give at least one usage point.")})
    if not email:
        raise ValidationError({"email": _("An e-mail address is needed to send the invitation.")})
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": _("%(email)r is not a valid e-mail address.") % {"email": email}}) from exc
    if service_kind not in ServiceKind.values:
        raise ValidationError({"service_kind": _("Unknown service kind %(kind)r.") % {"kind": service_kind}})
    if language.strip() and language_supported(language.strip()) is None:
        raise ValidationError({"language": _("Unknown language %(language)r.") % {"language": language}})
    user_model = get_user_model()
    existing = user_model.objects.filter(username=username).select_related("retail_customer").first()
    if existing is not None:
        customer = getattr(existing, "retail_customer", None)
        if customer is None or existing.email.lower() != email:
            raise ValidationError(
                {"username": _("The username %(username)r belongs to someone else.") % {"username": username}}
            )
        created = False
    else:
        if user_model.objects.filter(email__iexact=email).exists():
            raise ValidationError({"email": _("%(email)s is already the e-mail of another login.") % {"email": email}})
        user = user_model(username=username, email=email)
        user.set_unusable_password()
        customer = _retail_customer_insert(user=user, name=name or username, actor=actor)
        if language.strip():
            customer = retail_customer_language_set(customer=customer, language=language.strip(), actor=actor)
        created = True
    have = set(customer.usage_points.values_list("title", flat=True))
    added = 0
    for title in titles:
        if title not in have:
            usage_point_create(customer=customer, title=title, service_kind=service_kind, actor=actor)
            added += 1
    invited = False
    if created and invite:
        retail_customer_invite(customer=customer, actor=actor)
        invited = True
    return Onboarding(customer=customer, created=created, usage_points_created=added, invited=invited)


def invitation_link(*, user: Any) -> str:
    """Return the absolute set-password link of an invitation (Django's password-reset token)."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    path = reverse("invitation_set_password", kwargs={"uidb64": uidb64, "token": token})
    return f"{settings.PORTAL_BASE_URL}{path}"


@transaction.atomic
def retail_customer_invite(*, customer: RetailCustomer, actor: Any = None) -> None:
    """Mail the customer a link to set their password, after commit; audit it (never the link)."""
    user = customer.user
    if not user.email:
        raise ValidationError({"email": _("The customer has no e-mail address.")})
    audit_record(
        action=AuditEvent.Action.CUSTOMER_INVITED,
        actor_user=actor,
        customer=customer,
        obj=customer,
        summary=f"Invitation to set a password sent to {customer.name}",
    )
    user_pk = user.pk

    def send() -> None:
        fresh = get_user_model().objects.get(pk=user_pk)
        context = {
            "name": customer.name,
            "username": fresh.username,
            "link": invitation_link(user=fresh),
            "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        }
        with translation.override(customer_language(customer=customer)):
            send_mail(
                subject=render_to_string("registration/invitation_subject.txt", context).strip(),
                message=render_to_string("registration/invitation_email.txt", context),
                from_email=None,
                recipient_list=[fresh.email],
            )

    transaction.on_commit(send)


@transaction.atomic
def retail_customer_language_set(*, customer: RetailCustomer, language: str, actor: Any = None) -> RetailCustomer:
    """Store the language the customer chose (a code of LANGUAGES); audit a change, ignore anything else."""
    chosen = language_supported(language)
    locked = RetailCustomer.objects.select_for_update().get(pk=customer.pk)
    if chosen is None or locked.language == chosen:
        return locked
    previous, locked.language = locked.language, chosen
    locked.save(update_fields=["language"])
    audit_record(
        action=AuditEvent.Action.CUSTOMER_UPDATED,
        actor_user=actor,
        customer=locked,
        obj=locked,
        summary=f"Language of {locked.name} set to {chosen}",
        detail={"language_from": previous, "language_to": chosen},
    )
    return locked


@transaction.atomic
def retail_customer_rename(*, customer: RetailCustomer, name: str, actor: Any = None) -> RetailCustomer:
    """Change the name a customer is shown under; audit the old and new names."""
    locked = RetailCustomer.objects.select_for_update().get(pk=customer.pk)
    previous, locked.name = locked.name, name.strip()
    if previous == locked.name:
        return locked
    return saved_and_audited(
        locked,
        action=AuditEvent.Action.CUSTOMER_UPDATED,
        actor=actor,
        update_fields=["name"],
        customer=locked,
        summary=f"Customer {previous} renamed {locked.name}",
        detail={"from": previous, "to": locked.name},
    )


USAGE_POINT_STAFF_FIELDS = ("title", "service_kind", "status", "local_time_parameters")


@transaction.atomic
def usage_point_update(*, usage_point: UsagePoint, changes: dict[str, Any], actor: Any = None) -> UsagePoint:
    """Change a usage point's title, service kind, status or time parameters (never its owner); audit it."""
    unknown = set(changes) - set(USAGE_POINT_STAFF_FIELDS)
    if unknown:
        raise ValidationError(
            _("These usage point fields are not changed by staff: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    locked = UsagePoint.objects.select_for_update().get(pk=usage_point.pk)
    changed = [name for name, value in changes.items() if getattr(locked, name) != value]
    if not changed:
        return locked
    for name in changed:
        setattr(locked, name, changes[name])
    return saved_and_audited(
        locked,
        action=AuditEvent.Action.USAGE_POINT_UPDATED,
        actor=actor,
        update_fields=changed,
        customer=locked.customer,
        summary=f"Usage point {locked.title or locked.public_id}: {', '.join(changed)} changed",
        detail={"fields": changed},
    )


@transaction.atomic
def customer_record_link_usage_points(
    *, record: CustomerRecord, usage_points: list[UsagePoint], actor: Any = None
) -> None:
    """Link a customer record (ServiceLocation, Meter...) to usage points of its own customer, with an audit row."""
    foreign = [point for point in usage_points if point.customer_id != record.customer_id]
    if foreign:
        raise ValueError("a customer record can only be linked to its own customer's usage points")
    before = set(record.usage_points.values_list("public_id", flat=True))
    after = {point.public_id for point in usage_points}
    if before == after:
        return
    record.usage_points.set(usage_points)
    with translation.override("en"):  # the stored summary is English, whatever the staff's language
        kind = str(record.get_kind_display())
    audit_record(
        action=AuditEvent.Action.USAGE_POINT_UPDATED,
        actor_user=actor,
        customer=record.customer,
        obj=record,
        summary=f"{kind} {record.label or record.public_id} linked to usage points "
        + (", ".join(sorted(after)) or "none"),
        detail={"before": sorted(before), "after": sorted(after)},
    )
