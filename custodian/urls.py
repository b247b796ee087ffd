"""Root URLs: customer portal, OAuth endpoints, ESPI REST API, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/reports/", include("batch.urls_reports")),
    path("admin/", admin.site.urls),
    path("", include("custodian.urls_portal")),
    path("", include("grants.urls")),
    path("", include("batch.urls_portal")),
    path("espi/1_1/resource/", include("batch.urls_espi")),
]

handler404 = "custodian.views.page_not_found"
handler500 = "custodian.views.server_error"
