"""RFC 7591 dynamic client registration (ESPI FB 36): what a registration request may say, decided here.

``registration_metadata_read`` turns the JSON a Third Party sends into the ApplicationInformation
fields staff would enter, or raises :class:`RegistrationError` with the RFC 7591 section 3.2.2 error
code (``invalid_redirect_uri``, ``invalid_client_metadata``). Pure code: nothing is written here
(``services.third_party_register_dynamic`` writes, ``apis.DynamicRegistrationApi`` speaks HTTP).

Unknown metadata is ignored (RFC 7591 section 2). Besides the RFC's names the ESPI element names
``thirdPartyNotifyUri``, ``thirdPartyScopeSelectionScreenURI`` and ``thirdPartyApplicationDescription``
are read. Every client is confidential (a client secret, HTTP Basic or form authentication).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from grants.approval import redirect_uri_problem
from grants.scopes import ScopeError, parse_scope

GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
RESPONSE_TYPES = ("code",)
AUTH_METHODS = ("client_secret_basic", "client_secret_post")

# RFC 7591 name -> ApplicationInformation field; ESPI element names too.
_URI_FIELDS = {
    "client_uri": "client_uri",
    "logo_uri": "logo_uri",
    "tos_uri": "tos_uri",
    "policy_uri": "policy_uri",
    "thirdPartyNotifyUri": "notify_uri",
    "thirdPartyScopeSelectionScreenURI": "scope_selection_uri",
}
_TEXT_FIELDS = {
    "client_name": ("name", 255),
    "software_id": ("software_id", 256),
    "software_version": ("software_version", 32),
    "thirdPartyApplicationDescription": ("description", 256),
}


class RegistrationError(Exception):
    """A registration request refused with an RFC 7591 error code and a description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class RegistrationMetadata:
    """What was asked for, read and checked: the ApplicationInformation fields and the echoed metadata."""

    information: dict[str, Any]
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    token_endpoint_auth_method: str


def _metadata_error(description: str) -> RegistrationError:
    return RegistrationError("invalid_client_metadata", description)


def _string_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _metadata_error(f"{name} must be an array of strings.")
    return value


def registration_metadata_read(body: Any) -> RegistrationMetadata:
    """Read an RFC 7591 registration request; raise RegistrationError for anything the portal cannot register."""
    if not isinstance(body, Mapping):
        raise _metadata_error("The registration request must be a JSON object.")
    redirect_uris = _string_list(body, "redirect_uris")
    if not redirect_uris:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris is required: at least one https URI.")
    for uri in redirect_uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise RegistrationError("invalid_redirect_uri", problem + ".")
    grant_types = tuple(_string_list(body, "grant_types") or ("authorization_code", "refresh_token"))
    unknown = sorted(set(grant_types) - set(GRANT_TYPES))
    if unknown:
        raise _metadata_error(f"Unsupported grant_types: {', '.join(unknown)} (supported: {', '.join(GRANT_TYPES)}).")
    response_types = tuple(_string_list(body, "response_types") or RESPONSE_TYPES)
    if set(response_types) - set(RESPONSE_TYPES):
        raise _metadata_error('Only response_types ["code"] is supported.')
    auth_method = body.get("token_endpoint_auth_method", "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise _metadata_error(
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}: every client here is confidential."
        )
    scope_text = body.get("scope")
    if not isinstance(scope_text, str) or not scope_text.split():
        raise _metadata_error("scope is required: the ESPI scope strings (FB=...) the client will ask for.")
    scopes = scope_text.split()
    for scope in scopes:
        try:
            parse_scope(scope)
        except ScopeError as exc:
            raise _metadata_error(f"scope {scope!r}: {exc}") from exc
    information: dict[str, Any] = {"redirect_uris": " ".join(redirect_uris), "registered_scopes": "\n".join(scopes)}
    for name, (field, limit) in _TEXT_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise _metadata_error(f"{name} must be a string of at most {limit} characters.")
        information[field] = value.strip()
    if not information.get("name"):
        raise _metadata_error("client_name is required: customers see it on the consent screen.")
    url = URLValidator(schemes=["https", "http"] if settings.DEBUG else ["https"])
    for name, field in _URI_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise ValidationError("not a string")
            url(value)
        except ValidationError:
            raise _metadata_error(f"{name} must be an absolute https URI.") from None
        information[field] = value
    contacts = _string_list(body, "contacts")
    if contacts is not None:
        information["contacts"] = "\n".join(contact.strip() for contact in contacts if contact.strip())
    return RegistrationMetadata(
        information=information,
        grant_types=grant_types,
        response_types=response_types,
        token_endpoint_auth_method=auth_method,
    )
