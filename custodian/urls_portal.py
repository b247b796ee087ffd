"""Customer-facing pages: login, dashboard."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from custodian import views

urlpatterns = [
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.DashboardView.as_view(), name="dashboard"),
    # The link of a new customer's invitation (Django's password-reset token: single use, expires).
    path(
        "accounts/invitation/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/set_password.html", success_url=reverse_lazy("login")
        ),
        name="invitation_set_password",
    ),
]
