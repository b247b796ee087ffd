"""ESPI authorization resources: ApplicationInformation/{id}, Authorization, Authorization/{id}, ReadServiceStatus.

Who reaches what (PRODUCT "Tokens and what each reaches"): a Third Party's client token or one of
its access tokens reads its own ApplicationInformation; its client token reads its own
Authorizations, an access token only its own grant's; ReadServiceStatus answers any valid token.
Another Third Party's id and an unknown id are the same 404.
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from batch import authorization_reads as espi_reads
from batch.atom_http import XML_CONTENT_TYPE, atom_stream, feed_uuid, query_params
from batch.feed_params import parse_feed_params
from custodian.espi import writer
from custodian.espi.authorization import service_status_xml
from custodian.exceptions import NotFound
from custodian.negotiation import PLAIN_XML_TYPES, EspiNegotiationMixin
from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsThirdPartyClientToken,
    request_third_party,
)
from grants.selectors import espi_resource_base


class _EspiApi(EspiNegotiationMixin, APIView):
    authentication_classes = [EspiBearerAuthentication]
    renderer_classes = [JSONRenderer]  # errors are JSON; ESPI XML bypasses renderers


def _no_query(request) -> None:
    # These resources take no filters; refuse any rather than pretend to apply them.
    if request.GET:
        parse_feed_params(query={name: values for name, values in query_params(request).items() if name != "depth"})


class ApplicationInformationApi(_EspiApi):
    """GET ApplicationInformation/{applicationInformationId}: the caller's own registration only."""

    permission_classes = [IsThirdPartyClientToken | HasGrantAccessToken]

    def get(self, request, application_information_id: str):
        third_party = espi_reads.application_information_get(
            third_party=request_third_party(request), public_id=application_information_id
        )
        _no_query(request)
        return atom_stream(
            writer.entry_chunks(espi_reads.application_information_entry(third_party=third_party), standalone=True)
        )


class AuthorizationListApi(_EspiApi):
    """GET Authorization: a client token sees its Third Party's grants, an access token its own grant."""

    permission_classes = [IsThirdPartyClientToken | HasGrantAccessToken]

    def get(self, request):
        _no_query(request)
        third_party = request_third_party(request)
        grants = espi_reads.authorization_list(third_party=third_party)
        grant = getattr(request, "espi_grant", None)
        if grant is not None:
            grants = grants.filter(pk=grant.pk)
        paths = writer.ResourcePaths(base=espi_resource_base())
        return atom_stream(
            writer.feed_chunks(
                feed_uuid=feed_uuid(
                    f"Authorization/{third_party.public_id}" + (f"/{grant.public_id}" if grant is not None else "")
                ),
                title="Authorizations",
                updated=timezone.now(),
                links=[paths.feed_self("Authorization", kind="Authorization")],
                entries=espi_reads.authorization_entries(grants=grants),
            )
        )


class AuthorizationApi(_EspiApi):
    """GET Authorization/{authorizationId}: one of the client's grants, or an access token's own grant."""

    permission_classes = [IsThirdPartyClientToken | HasGrantAccessToken]

    def get(self, request, authorization_id: str):
        grant = getattr(request, "espi_grant", None)
        if grant is not None and grant.public_id != authorization_id:
            raise NotFound("Not found.")
        found = espi_reads.authorization_get(third_party=request_third_party(request), public_id=authorization_id)
        _no_query(request)
        return atom_stream(writer.entry_chunks(espi_reads.authorization_entry(grant=found), standalone=True))


class ReadServiceStatusApi(_EspiApi):
    """GET ReadServiceStatus: ``<ServiceStatus><currentStatus>1</currentStatus></ServiceStatus>``."""

    permission_classes = [IsThirdPartyClientToken | HasGrantAccessToken | IsCustodianClientToken]
    espi_produces = PLAIN_XML_TYPES

    def get(self, request):
        return atom_stream(writer.element_document(service_status_xml(current_status=1)), content_type=XML_CONTENT_TYPE)
