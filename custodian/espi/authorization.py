"""ESPI content of the authorization resources: ApplicationInformation, Authorization, ServiceStatus.

Pure serialisation from plain dataclasses, in espi.xsd schema order (an additive companion of
``custodian.espi.writer``, which wraps the bytes in Atom entries and documents).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from custodian.espi.namespaces import ESPI
from custodian.espi.writer import element_xml, fields_xml, interval_xml

# ESPI grant_types and response_types an ApplicationInformation announces (lower case, one per element).
GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")


@dataclass(slots=True)
class ApplicationInformationContent:
    """The fields of an ApplicationInformation; secrets are never part of it (see ``client_secret``)."""

    data_custodian_id: str
    data_custodian_application_status: int
    third_party_notify_uri: str
    authorization_endpoint: str
    token_endpoint: str
    bulk_request_uri: str
    resource_endpoint: str
    client_name: str
    redirect_uris: Sequence[str]
    client_id: str
    software_id: str
    software_version: str
    client_id_issued_at: int
    scopes: Sequence[str]
    registration_client_uri: str
    description: str | None = None
    application_type: int | None = None
    application_use: int | None = None
    phone: str | None = None
    authorization_server_uri: str | None = None
    user_portal_uri: str | None = None
    logo_uri: str | None = None
    client_uri: str | None = None
    tos_uri: str | None = None
    policy_uri: str | None = None
    contacts: Sequence[str] = field(default_factory=tuple)
    grant_types: Sequence[str] = GRANT_TYPES
    # Credentials, filled only for a read with the registration token (RFC 7592 section 3), else empty.
    client_secret: str = ""
    registration_access_token: str = ""
    registration_endpoint: str | None = None
    third_party_scope_selection_uri: str | None = None
    data_custodian_scope_selection_uri: str | None = None


def application_information_xml(content: ApplicationInformationContent) -> bytes:
    """Serialise an ApplicationInformation, in schema order.

    ``client_secret`` and ``registration_access_token`` are required by the XSD but are
    credentials: they are written empty (valid: String512 and an untyped element) unless the caller
    filled them, which only a read with the registration token does (RFC 7592 section 3).
    """
    c = content
    pairs: list[tuple[str, object]] = [
        ("dataCustodianId", c.data_custodian_id),
        ("dataCustodianApplicationStatus", c.data_custodian_application_status),
        ("thirdPartyApplicationDescription", c.description or None),
        ("thirdPartyApplicationType", c.application_type),
        ("thirdPartyApplicationUse", c.application_use),
        ("thirdPartyPhone", c.phone or None),
        ("authorizationServerUri", c.authorization_server_uri or None),
        ("thirdPartyNotifyUri", c.third_party_notify_uri),
        ("authorizationServerAuthorizationEndpoint", c.authorization_endpoint),
        ("authorizationServerRegistrationEndpoint", c.registration_endpoint or None),
        ("authorizationServerTokenEndpoint", c.token_endpoint),
        ("dataCustodianBulkRequestURI", c.bulk_request_uri),
        ("dataCustodianResourceEndpoint", c.resource_endpoint),
        ("thirdPartyScopeSelectionScreenURI", c.third_party_scope_selection_uri or None),
        ("thirdPartyUserPortalScreenURI", c.user_portal_uri or None),
        ("client_secret", c.client_secret),
        ("logo_uri", c.logo_uri or None),
        ("client_name", c.client_name),
        ("client_uri", c.client_uri or None),
        *(("redirect_uri", uri) for uri in (c.redirect_uris or [""])),
        ("client_id", c.client_id),
        ("tos_uri", c.tos_uri or None),
        ("policy_uri", c.policy_uri or None),
        ("software_id", c.software_id),
        ("software_version", c.software_version),
        ("client_id_issued_at", c.client_id_issued_at),
        ("client_secret_expires_at", 0),
        *(("contacts", contact) for contact in c.contacts),
        ("token_endpoint_auth_method", "client_secret_basic"),
        *(("scope", scope) for scope in (c.scopes or [""])),
        *(("grant_types", grant_type) for grant_type in c.grant_types),
        ("response_types", "code"),
        ("registration_client_uri", c.registration_client_uri),
        ("registration_access_token", c.registration_access_token),
        ("dataCustodianScopeSelectionScreenURI", c.data_custodian_scope_selection_uri or None),
    ]
    return element_xml("ApplicationInformation", pairs)


@dataclass(slots=True)
class AuthorizationContent:
    """The fields of an Authorization (one grant); token values are never part of it."""

    status: int
    expires_at: int
    scope: str
    resource_uri: str
    authorization_uri: str
    authorized_start: int | None = None
    authorized_duration: int | None = None
    published_start: int | None = None
    published_duration: int | None = None
    grant_type: str | None = "authorization_code"


def _period(name: str, start: int | None, duration: int | None) -> str:
    """An Authorization's period is written whole or not at all (the writer's interval writes what it knows)."""
    if start is None or duration is None:
        return ""
    return interval_xml(name, start, duration)


def authorization_xml(content: AuthorizationContent) -> bytes:
    """Serialise an Authorization, in schema order (no access_token, refresh_token or customerResourceURI)."""
    c = content
    inner = (
        _period("authorizedPeriod", c.authorized_start, c.authorized_duration)
        + _period("publishedPeriod", c.published_start, c.published_duration)
        + fields_xml(
            (
                ("status", c.status),
                ("expires_at", c.expires_at),
                ("grant_type", c.grant_type),
                ("scope", c.scope),
                ("token_type", "Bearer"),
                ("resourceURI", c.resource_uri),
                ("authorizationURI", c.authorization_uri),
            )
        )
    )
    return f'<Authorization xmlns="{ESPI}">{inner}</Authorization>'.encode()


def service_status_xml(*, current_status: int = 1) -> bytes:
    """Serialise a ServiceStatus (1 normal, 0 unavailable)."""
    return element_xml("ServiceStatus", (("currentStatus", current_status),))
