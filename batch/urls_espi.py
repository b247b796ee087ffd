"""ESPI REST API under /espi/1_1/resource/: each app contributes its routes."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("batch.urls_authorization")),
    path("", include("batch.urls")),
    path("", include("batch.urls_resources")),
]
