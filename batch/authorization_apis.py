"""ESPI authorization resources: ApplicationInformation/{id}, Authorization, Authorization/{id}, ReadServiceStatus.

Who reaches what (PRODUCT "Tokens and what each reaches"): a Third Party's registration token reads
its own ApplicationInformation; its client token reads its own Authorizations; ReadServiceStatus
answers the client, registration and back-office tokens, never an access token. Another Third
Party's id and an unknown id are the same 404.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from batch import authorization_reads as espi_reads
from batch.apis import AtomStreamParser, XmlStreamParser
from batch.atom_http import XML_CONTENT_TYPE, atom_stream, feed_uuid, query_params
from batch.feed_params import parse_feed_params
from custodian.espi import writer
from custodian.espi.authorization import service_status_xml
from custodian.espi.errors import EspiError
from custodian.exceptions import InvalidInput
from custodian.negotiation import PLAIN_XML_TYPES, EspiNegotiationMixin
from grants import services as grant_services
from grants.models import ThirdParty
from grants.permissions import (
    EspiBearerAuthentication,
    IsCustodianClientToken,
    IsRegistrationToken,
    IsThirdPartyClientToken,
    request_bearer_value,
    request_third_party,
)
from grants.resource_uris import espi_resource_base

_PUT_MAX_BYTES = 64 * 1024


class _EspiApi(EspiNegotiationMixin, APIView):
    authentication_classes = [EspiBearerAuthentication]
    renderer_classes = [JSONRenderer]  # errors are JSON; ESPI XML bypasses renderers


def _no_query(request) -> None:
    # These resources take no filters; refuse any rather than pretend to apply them.
    if request.GET:
        parse_feed_params(query={name: values for name, values in query_params(request).items() if name != "depth"})


class ApplicationInformationApi(_EspiApi):
    """GET ApplicationInformation/{applicationInformationId}: the caller's own registration only."""

    permission_classes = [IsRegistrationToken]
    parser_classes = [AtomStreamParser, XmlStreamParser]  # PUT: the body is read, capped, by the view

    def get(self, request, application_information_id: str):
        third_party = espi_reads.application_information_get(
            third_party=request_third_party(request), public_id=application_information_id
        )
        _no_query(request)
        return atom_stream(
            writer.entry_chunks(
                espi_reads.application_information_entry(
                    third_party=third_party, registration_token=request_bearer_value(request)
                ),
                standalone=True,
            )
        )

    def put(self, request, application_information_id: str):
        """Change the Third Party's own registration (FB_44, RFC 7592 section 2.2); answer the new entry."""
        third_party = espi_reads.application_information_get(
            third_party=request_third_party(request), public_id=application_information_id
        )
        try:
            stream = request.stream
            body = stream.read(_PUT_MAX_BYTES + 1) if stream is not None else b""
            if len(body) > _PUT_MAX_BYTES:
                raise InvalidInput("The ApplicationInformation is too large.")
            information = espi_reads.application_information_changes(body=body)
            grant_services.third_party_update(third_party=third_party, information=information)
        except EspiError as exc:
            raise InvalidInput(f"The body is not an ApplicationInformation: {exc.message}") from None
        except ValidationError as exc:
            raise InvalidInput(" ".join(exc.messages)) from None
        third_party.refresh_from_db()
        return self.get(request, application_information_id)

    def delete(self, request, application_information_id: str):
        """Deregister (FB_44, RFC 7592 section 2.3): the Third Party is revoked with every grant and token."""
        third_party = espi_reads.application_information_get(
            third_party=request_third_party(request), public_id=application_information_id
        )
        grant_services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.REVOKED)
        return HttpResponse(status=204)


class AuthorizationListApi(_EspiApi):
    """GET Authorization: the client token's Third Party's grants."""

    permission_classes = [IsThirdPartyClientToken]

    def get(self, request):
        _no_query(request)
        third_party = request_third_party(request)
        grants = espi_reads.authorization_list(third_party=third_party)
        paths = writer.ResourcePaths(base=espi_resource_base())
        return atom_stream(
            writer.feed_chunks(
                feed_uuid=feed_uuid(f"Authorization/{third_party.public_id}"),
                title="Authorizations",
                updated=timezone.now(),
                links=[paths.feed_self("Authorization", kind="Authorization"), *espi_reads.certification_links()],
                entries=espi_reads.authorization_entries(grants=grants),
            )
        )


class AuthorizationApi(_EspiApi):
    """GET Authorization/{authorizationId}: one of the client token's grants; DELETE revokes it (FB_41).

    PUT is not offered (405): a customer's consent is changed by the customer only. The Atom parsers
    are named so that a PUT with an Atom body gets that 405, not a 415 from reading the body.
    """

    permission_classes = [IsThirdPartyClientToken]
    parser_classes = [AtomStreamParser, XmlStreamParser]

    def get(self, request, authorization_id: str):
        found = espi_reads.authorization_get(third_party=request_third_party(request), public_id=authorization_id)
        _no_query(request)
        return atom_stream(writer.entry_chunks(espi_reads.authorization_entry(grant=found), standalone=True))

    def delete(self, request, authorization_id: str):
        """The Third Party revokes one of its authorizations (FB_41): exactly as a customer's revoke."""
        found = espi_reads.authorization_get(third_party=request_third_party(request), public_id=authorization_id)
        grant_services.grant_revoke(grant=found, reason="Revoked by the Third Party")
        return HttpResponse(status=204)


class ReadServiceStatusApi(_EspiApi):
    """GET ReadServiceStatus: ``<ServiceStatus><currentStatus>1</currentStatus></ServiceStatus>``."""

    permission_classes = [IsThirdPartyClientToken | IsRegistrationToken | IsCustodianClientToken]
    espi_produces = PLAIN_XML_TYPES

    def get(self, request):
        return atom_stream(writer.element_document(service_status_xml(current_status=1)), content_type=XML_CONTENT_TYPE)
