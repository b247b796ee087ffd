from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from oauth2_provider.apps import DOTConfig


class GrantsConfig(AppConfig):
    default = True  # this module holds a second AppConfig (below): Django picks this one for "grants"
    name = "grants"
    verbose_name = _("Third parties and grants")

    def ready(self) -> None:
        from grants import log_redaction

        log_redaction.install()


class OAuthToolkitConfig(DOTConfig):
    """django-oauth-toolkit under a name staff read (and in their language) on the admin's index."""

    verbose_name = _("OAuth tokens")
