"""A test-only URLconf: one tiny ESPI-style endpoint per permission class, plus the real OAuth endpoints."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from grants.permissions import (
    EspiBearerAuthentication,
    HasGrantAccessToken,
    IsCustodianClientToken,
    IsThirdPartyClientToken,
    bulk_user_for_request,
    grant_for_subscription,
    request_third_party,
)


class SubscriptionProbe(APIView):
    authentication_classes = [EspiBearerAuthentication]
    permission_classes = [HasGrantAccessToken]

    def get(self, request, subscription_id):
        return Response({"authorization": grant_for_subscription(request, subscription_id).public_id})


class BulkProbe(APIView):
    authentication_classes = [EspiBearerAuthentication]
    permission_classes = [IsThirdPartyClientToken]

    def get(self, request, bulk_id):
        return Response({"bulk": bulk_user_for_request(request, bulk_id).bulk_id})


class CustodianProbe(APIView):
    authentication_classes = [EspiBearerAuthentication]
    permission_classes = [IsCustodianClientToken]

    def get(self, request):
        return Response({"client": request_third_party(request).client_id})


urlpatterns = [
    path("", include("custodian.urls")),
    path("probe/subscription/<str:subscription_id>", SubscriptionProbe.as_view()),
    path("probe/bulk/<str:bulk_id>", BulkProbe.as_view()),
    path("probe/custodian", CustodianProbe.as_view()),
]
