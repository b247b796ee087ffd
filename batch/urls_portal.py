"""Customer pages served by the batch side: Download My Data (it uses the API's feed writer)."""

from __future__ import annotations

from django.urls import path

from batch import download_views

urlpatterns = [
    path("download/", download_views.DownloadView.as_view(), name="download"),
]
