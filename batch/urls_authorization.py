"""ESPI resources about authorization: ApplicationInformation, Authorization, ReadServiceStatus."""

from __future__ import annotations

from django.urls import path

from batch import authorization_apis as espi_apis

urlpatterns = [
    path(
        "ApplicationInformation/<str:application_information_id>",
        espi_apis.ApplicationInformationApi.as_view(),
        name="espi-application-information",
    ),
    # GBA's harness cuts the feed URL from authorizationURI and may leave a trailing slash: every ESPI URL
    # answers with one (custodian.middleware.EspiTrailingSlashMiddleware).
    path("Authorization", espi_apis.AuthorizationListApi.as_view(), name="espi-authorization-list"),
    path("Authorization/<str:authorization_id>", espi_apis.AuthorizationApi.as_view(), name="espi-authorization"),
    path("ReadServiceStatus", espi_apis.ReadServiceStatusApi.as_view(), name="espi-read-service-status"),
]
