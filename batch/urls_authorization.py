"""ESPI resources about authorization: ApplicationInformation, Authorization, ReadServiceStatus."""

from __future__ import annotations

from django.urls import path, re_path

from batch import authorization_apis as espi_apis

urlpatterns = [
    path(
        "ApplicationInformation/<str:application_information_id>",
        espi_apis.ApplicationInformationApi.as_view(),
        name="espi-application-information",
    ),
    # GBA's harness cuts the feed URL from authorizationURI and may leave a trailing slash.
    re_path(r"^Authorization/?$", espi_apis.AuthorizationListApi.as_view(), name="espi-authorization-list"),
    re_path(
        r"^Authorization/(?P<authorization_id>[^/]+)/?$",
        espi_apis.AuthorizationApi.as_view(),
        name="espi-authorization",
    ),
    path("ReadServiceStatus", espi_apis.ReadServiceStatusApi.as_view(), name="espi-read-service-status"),
]
