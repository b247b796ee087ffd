"""Customer-facing pages: login, dashboard."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from custodian import views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.DashboardView.as_view(), name="dashboard"),
]
