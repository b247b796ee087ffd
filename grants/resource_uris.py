"""The absolute ESPI URIs this Data Custodian hands out: one builder for every resource and Authorization URI.

Token responses, introspection, notifications (BatchList), the approval check and the read side's
Authorization and ApplicationInformation entries all name resources through ``resource_uri``, under
``{PORTAL_BASE_URL}/espi/1_1/resource`` (ESPI dataCustodianResourceEndpoint). Relative hrefs inside a
feed are the ESPI writer's (``custodian.espi.writer.ResourcePaths``), given ``espi_resource_base()``.
This is the lowest layer that needs absolute URIs: ``custodian`` only knows the path
(``custodian.espi.hrefs.RESOURCE_ROOT``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings

from custodian.espi.hrefs import RESOURCE_ROOT
from custodian.espi.writer import atom_time

if TYPE_CHECKING:
    from grants.models import Grant, ThirdParty


def espi_resource_base() -> str:
    """Return the ESPI dataCustodianResourceEndpoint (``{PORTAL_BASE_URL}/espi/1_1/resource``)."""
    return f"{settings.PORTAL_BASE_URL}{RESOURCE_ROOT}"


def resource_uri(*parts: str, published_min: datetime | None = None, published_max: datetime | None = None) -> str:
    """Return the absolute ESPI resource URI of ``parts`` with optional published-min/max (UTC, ESPI form).

    No parts is the resource root itself, with its trailing slash (``.../espi/1_1/resource/``).
    """
    uri = f"{espi_resource_base()}/" + "/".join(parts)
    query = []
    if published_min is not None:
        query.append(("published-min", atom_time(published_min)))
    if published_max is not None:
        query.append(("published-max", atom_time(published_max)))
    return f"{uri}?{urlencode(query)}" if query else uri


def grant_resource_uri(*, grant: Grant) -> str:
    """Return the ESPI resourceURI of a grant: its ``Batch/Subscription/{subscriptionId}``."""
    return resource_uri("Batch", "Subscription", grant.subscription_id)


def grant_authorization_uri(*, grant: Grant) -> str:
    """Return the ESPI authorizationURI of a grant: its ``Authorization/{id}``."""
    return resource_uri("Authorization", grant.public_id)


def authorization_collection_uri() -> str:
    """Return the ESPI URI of the Authorization collection (what a token without a grant may read)."""
    return resource_uri("Authorization")


def bulk_uri(*, bulk_id: str) -> str:
    """Return the ESPI URI of a bulk's feed, ``Batch/Bulk/{bulkId}``."""
    return resource_uri("Batch", "Bulk", bulk_id)


def application_information_uri(*, third_party: ThirdParty) -> str:
    """Return the ESPI URI of a Third Party's ApplicationInformation (its RFC 7592 registration_client_uri)."""
    return resource_uri("ApplicationInformation", third_party.public_id)
