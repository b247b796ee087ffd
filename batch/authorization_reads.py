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
from custodian.espi.errors import EspiError
from custodian.espi.namespaces import ESPI
from custodian.espi.parser import parse_small_document
from custodian.exceptions import NotFound
from grants.data_categories import grant_sentence
from grants.models import Grant, ThirdParty
from grants.resource_uris import (
    application_information_uri,
    espi_resource_base,
    grant_authorization_uri,
    grant_resource_uri,
)
from grants.sealing import secret_unseal

# Neither grants nor clients carry an ESPI uuid: derive a stable one from the public id.
RESOURCE_NAMESPACE = uuid.UUID("a3c1d7e2-51f4-4a8e-8f0b-2d6e9c4b7f31")

# ESPI AuthorizationStatus: 0 Revoked, 1 Active, 2 Denied. An expired grant reaches nothing, like a revoked one.
_STATUS = {Grant.Status.ACTIVE: 1, Grant.Status.REVOKED: 0, Grant.Status.EXPIRED: 0, Grant.Status.DENIED: 2}


def resource_uuid(kind: str, public_id: str) -> uuid.UUID:
    """Return the stable atom:id uuid of a resource that has no uuid column."""
    return uuid.uuid5(RESOURCE_NAMESPACE, f"{kind}/{public_id}")


def certification_links() -> list[writer.Link]:
    """Return the GBA certification link (setting ``GBA_CERTIFICATION_ID``), or none when it is unset."""
    certificate = getattr(settings, "GBA_CERTIFICATION_ID", "")
    if not certificate:
        return []
    return [writer.Link("related", f"https://cert.greenbuttonalliance.org/certificate/{certificate}", "text/html")]


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


# ---- ApplicationInformation ---------------------------------------------------------------------


def application_information_entry(*, third_party: ThirdParty, registration_token: str = "") -> writer.AtomEntry:
    """Return the Third Party's ApplicationInformation entry.

    Read with its registration token (``registration_token``, the value presented), the entry carries
    the client secret and that token, as an RFC 7592 read does; otherwise neither.
    """
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
        registration_client_uri=application_information_uri(third_party=third_party),
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
        client_secret=secret_unseal(third_party.client_secret_sealed) if registration_token else "",
        registration_access_token=registration_token,
        registration_endpoint=f"{portal}/oauth/register" if settings.OAUTH_DYNAMIC_REGISTRATION else None,
        third_party_scope_selection_uri=third_party.scope_selection_uri or None,
        data_custodian_scope_selection_uri=f"{portal}/oauth/scope-selection",
    )
    paths = writer.ResourcePaths(base=base)
    return writer.AtomEntry(
        uuid=resource_uuid("ApplicationInformation", third_party.public_id),
        title=third_party.name,
        published=third_party.created,
        updated=third_party.updated,
        links=[*paths.root_resource("ApplicationInformation", third_party.public_id), *certification_links()],
        content=application_information_xml(content),
    )


# ApplicationInformation elements a Third Party may change with PUT (RFC 7592 section 2.2), and the
# fields they set. Status, client id, secret, scopes, grant types and endpoints are the utility's.
_PUT_FIELDS = {
    "thirdPartyApplicationDescription": "description",
    "thirdPartyPhone": "phone",
    "thirdPartyNotifyUri": "notify_uri",
    "thirdPartyUserPortalScreenURI": "user_portal_uri",
    "logo_uri": "logo_uri",
    "client_name": "name",
    "client_uri": "client_uri",
    "tos_uri": "tos_uri",
    "policy_uri": "policy_uri",
    "software_version": "software_version",
}
_PUT_LISTS = {"redirect_uri": ("redirect_uris", " "), "contacts": ("contacts", "\n")}


def application_information_changes(*, body: bytes) -> dict[str, str]:
    """Read the fields a Third Party may change from a PUT body (an Atom entry or a bare ApplicationInformation).

    Parsed with the project's one hardened parser; elements it may not change are ignored.
    """
    root = parse_small_document(body, max_bytes=64 * 1024)
    info = root if root.tag == f"{{{ESPI}}}ApplicationInformation" else None
    if info is None:
        info = next(iter(root.iter(f"{{{ESPI}}}ApplicationInformation")), None)
    if info is None:
        raise EspiError("No ApplicationInformation element.")
    changes: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for element in info:
        if not isinstance(element.tag, str):
            continue
        name = element.tag.rpartition("}")[2]
        value = (element.text or "").strip()
        if name in _PUT_FIELDS:
            changes[_PUT_FIELDS[name]] = value
        elif name in _PUT_LISTS:
            lists.setdefault(name, []).append(value)
    for name, values in lists.items():
        field_name, separator = _PUT_LISTS[name]
        changes[field_name] = separator.join(value for value in values if value)
    return changes


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
    return grant_sentence(grant=grant)


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
            application_information_uri(third_party=grant.third_party),
            "espi-entry/ApplicationInformation",
        ),
        *certification_links(),
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
