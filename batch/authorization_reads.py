"""Reads behind the ESPI authorization resources, mapped to the ESPI writer's content dataclasses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Max, QuerySet
from django.utils import timezone

from batch.reach import grant_window
from custodian.espi import writer
from custodian.espi.authorization import (
    ApplicationInformationContent,
    AuthorizationContent,
    application_information_xml,
    authorization_xml,
)
from custodian.exceptions import NotFound
from grants.data_categories import grant_description
from grants.models import Grant, ThirdParty
from grants.scopes import ScopeError, parse_scope
from grants.selectors import espi_resource_base, grant_authorization_uri, grant_resource_uri

# Neither grants nor clients carry an ESPI uuid: derive a stable one from the public id.
RESOURCE_NAMESPACE = uuid.UUID("a3c1d7e2-51f4-4a8e-8f0b-2d6e9c4b7f31")

# ESPI AuthorizationStatus: 0 Revoked, 1 Active, 2 Denied. An expired grant reaches nothing, like a revoked one.
_STATUS = {Grant.Status.ACTIVE: 1, Grant.Status.REVOKED: 0, Grant.Status.EXPIRED: 0, Grant.Status.DENIED: 2}


def resource_uuid(kind: str, public_id: str) -> uuid.UUID:
    """Return the stable atom:id uuid of a resource that has no uuid column."""
    return uuid.uuid5(RESOURCE_NAMESPACE, f"{kind}/{public_id}")


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


# ---- ApplicationInformation ---------------------------------------------------------------------


def application_information_entry(*, third_party: ThirdParty) -> writer.AtomEntry:
    """Return the Third Party's ApplicationInformation entry (no secret, hashed or not)."""
    base = espi_resource_base()
    portal = settings.PORTAL_BASE_URL
    content = ApplicationInformationContent(
        data_custodian_id=settings.DATA_CUSTODIAN_ID,
        data_custodian_application_status=third_party.lifecycle,
        third_party_notify_uri=third_party.notify_uri,
        authorization_endpoint=f"{portal}/oauth/authorize",
        token_endpoint=f"{portal}/oauth/token",
        # XSD: "Batch/Bulk/{BulkID} => bulkID from BR={bulkId} from Scope"; the id is appended by the client.
        bulk_request_uri=f"{base}/Batch/Bulk",
        resource_endpoint=base,
        client_name=third_party.name[:256],
        redirect_uris=third_party.redirect_uris.split(),
        client_id=third_party.client_id,
        software_id=(third_party.software_id or third_party.name)[:256],
        software_version=(third_party.software_version or "1")[:32],
        client_id_issued_at=_epoch(third_party.created),
        scopes=third_party.registered_scope_list,
        registration_client_uri=f"{base}/ApplicationInformation/{third_party.public_id}",
        description=third_party.description[:256] or None,
        application_type=third_party.application_type,
        application_use=third_party.application_use,
        phone=third_party.phone or None,
        authorization_server_uri=portal,
        user_portal_uri=third_party.user_portal_uri or None,
        logo_uri=third_party.logo_uri or None,
        client_uri=third_party.client_uri or None,
        tos_uri=third_party.tos_uri or None,
        policy_uri=third_party.policy_uri or None,
        contacts=[line.strip() for line in third_party.contacts.splitlines() if line.strip()],
    )
    paths = writer.ResourcePaths(base=base)
    return writer.AtomEntry(
        uuid=resource_uuid("ApplicationInformation", third_party.public_id),
        title=third_party.name,
        published=third_party.created,
        updated=third_party.updated,
        links=paths.root_resource("ApplicationInformation", third_party.public_id),
        content=application_information_xml(content),
    )


def application_information_get(*, third_party: ThirdParty, public_id: str) -> ThirdParty:
    """Return the caller's own ApplicationInformation if ``public_id`` names it exactly, else NotFound."""
    if third_party.public_id != public_id:
        raise NotFound("Not found.")
    return third_party


# ---- Authorization ------------------------------------------------------------------------------


def authorization_list(*, third_party: ThirdParty) -> QuerySet[Grant]:
    """Return every grant of one Third Party (any status), with its latest token expiry."""
    return (
        Grant.objects.filter(third_party=third_party)
        .select_related("third_party")
        .annotate(token_expires=Max("token_bindings__access_token__expires"))
        .order_by("pk")
    )


def authorization_get(*, third_party: ThirdParty, public_id: str) -> Grant:
    """Return one grant of the Third Party by its exact Authorization id; another's or unknown is NotFound."""
    found = authorization_list(third_party=third_party).filter(public_id=public_id).first()
    if found is None:
        raise NotFound("Not found.")
    return found


def authorization_title(*, grant: Grant) -> str:
    """Return the Authorization's title: the grant in the customer's words, dated in the utility's time zone."""
    try:
        scope = parse_scope(grant.scope)
    except ScopeError:
        scope = None
    return grant_description(
        third_party_name=grant.third_party.name,
        function_blocks=grant.function_blocks,
        scope=scope,
        end=grant.authorized_end,
    )


def authorization_entry(*, grant: Grant, at: datetime | None = None) -> writer.AtomEntry:
    """Return a grant as an ESPI Authorization entry (scope, periods, status, URIs; never a token)."""
    moment = at or timezone.now()
    expires = getattr(grant, "token_expires", None) or grant.authorized_end
    published_start = published_duration = None
    if grant.is_active_at(moment):
        window = grant_window(grant=grant, at=moment)
        if window.start_min is not None and window.start_max is not None:
            published_start, published_duration = window.start_min, window.start_max - window.start_min
    content = AuthorizationContent(
        status=_STATUS.get(grant.status, 0),
        expires_at=_epoch(expires),
        scope=grant.scope,
        resource_uri=grant_resource_uri(grant=grant),
        authorization_uri=grant_authorization_uri(grant=grant),
        authorized_start=_epoch(grant.authorized_start),
        authorized_duration=_epoch(grant.authorized_end) - _epoch(grant.authorized_start),
        published_start=published_start,
        published_duration=published_duration,
    )
    base = espi_resource_base()
    paths = writer.ResourcePaths(base=base)
    links = [
        *paths.root_resource("Authorization", grant.public_id),
        writer.Link(
            "related",
            f"{base}/ApplicationInformation/{grant.third_party.public_id}",
            "espi-entry/ApplicationInformation",
        ),
    ]
    return writer.AtomEntry(
        uuid=resource_uuid("Authorization", grant.public_id),
        title=authorization_title(grant=grant),
        published=grant.created_at,
        updated=grant.updated_at,
        links=links,
        content=authorization_xml(content),
    )


def authorization_entries(*, grants: QuerySet[Grant]) -> Iterator[writer.AtomEntry]:
    """Yield Authorization entries from a queryset, streamed."""
    moment = timezone.now()
    for grant in grants.iterator(chunk_size=500):
        yield authorization_entry(grant=grant, at=moment)
