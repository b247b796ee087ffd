"""The per-request baseline: django-oauth-toolkit's protected DRF view, as DOT's documentation writes it.

``GET /bench/dot-protected`` with a bearer token: DRF's ``APIView``, DOT's ``OAuth2Authentication``
and ``TokenHasScope``, a constant body. Served only by the bench (``bench.settings_baseline``).
"""

from __future__ import annotations

from django.urls import path
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.response import Response
from rest_framework.views import APIView


class DotProtectedView(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["FB=3_35"]

    def get(self, request):
        return Response({"currentStatus": 1})


urlpatterns = [path("bench/dot-protected", DotProtectedView.as_view())]
