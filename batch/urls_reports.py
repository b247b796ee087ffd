"""Staff report pages, under /admin/reports/ (the admin's login and staff check)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from batch.admin_reports import regulator_report_view

urlpatterns = [path("", admin.site.admin_view(regulator_report_view), name="admin_regulator_report")]
