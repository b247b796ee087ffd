"""The per-request baselines: django-oauth-toolkit's protected DRF view, as DOT's documentation writes it.

* ``GET /bench/dot-protected`` with a client token: DRF's ``APIView``, DOT's ``OAuth2Authentication``
  and ``TokenHasScope``, a constant body (what an authenticated request costs with no work).
* ``GET /bench/dot-subscription/{subscriptionId}`` with a customer's access token: the same DOT view
  doing the work of ``Batch/Subscription/{id}`` and nothing else: the token's grant (one lookup,
  refused unless it is that subscription's), what the grant reaches, and the same Atom feed written
  by the same pure writer from the same rows. No grant-status or token-kind check, no throttle, no
  audit row, no request count, no content negotiation, none of the portal's middleware: what the
  portal's path adds to the work is the difference.

Served only by the bench (``bench.settings_baseline``); never by the product.
"""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from batch.atom_http import feed_uuid
from batch.feed_entries import usage_point_tree_entries
from batch.feed_params import parse_feed_params
from batch.reach import reach_for_grant
from custodian.espi import writer
from grants.models import GrantToken
from grants.resource_uris import espi_resource_base


class DotProtectedView(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["FB=3_35"]

    def get(self, request):
        return Response({"currentStatus": 1})


class DotSubscriptionFeedView(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [IsAuthenticated]

    def get(self, request, subscription_id: str):
        binding = GrantToken.objects.select_related("grant").filter(access_token=request.auth).first()
        if binding is None or binding.grant.subscription_id != subscription_id:
            raise Http404
        grant = binding.grant
        params = parse_feed_params(query={})
        base = espi_resource_base()
        self_link = writer.ResourcePaths(base=base).feed_self("Batch", "Subscription", subscription_id)
        chunks = writer.feed_chunks(
            feed_uuid=feed_uuid(f"Batch/Subscription/{subscription_id}"),
            title=f"Green Button data, Subscription {subscription_id}",
            updated=timezone.now(),
            links=[self_link],
            entries=usage_point_tree_entries(reaches=reach_for_grant(grant=grant), params=params, base=base),
        )
        return StreamingHttpResponse(chunks, content_type="application/atom+xml")


urlpatterns = [
    path("bench/dot-protected", DotProtectedView.as_view()),
    path("bench/dot-subscription/<str:subscription_id>", DotSubscriptionFeedView.as_view()),
]
