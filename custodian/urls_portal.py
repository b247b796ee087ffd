"""Customer-facing pages: accounts, the dashboard, the language switch."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from custodian import views
from custodian.forms import CustomerPasswordResetForm

urlpatterns = [
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password change (logged in) and reset by e-mail: Django's views with the portal's templates.
    path("accounts/password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            form_class=CustomerPasswordResetForm, subject_template_name="registration/password_reset_subject.txt"
        ),
        name="password_reset",
    ),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", views.DashboardView.as_view(), name="dashboard"),
    # Django's language switch, remembering the choice of a logged-in customer.
    path("i18n/setlang/", views.language_switch, name="set_language"),
    # The link of a new customer's invitation (Django's password-reset token: single use, expires).
    path(
        "accounts/invitation/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/set_password.html", success_url=reverse_lazy("login")
        ),
        name="invitation_set_password",
    ),
]
