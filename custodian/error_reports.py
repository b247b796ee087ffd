"""What an error report (the 500 mail to ``ADMINS``, the debug page) may show of a request."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter

# Form fields that carry a credential, whatever view received them (OAuth: client_secret, code,
# code_verifier, refresh_token, token; login: password; CSRF token).
_CREDENTIAL_FIELD = re.compile(r"secret|token|code|password|verifier|assertion", re.IGNORECASE)


class CredentialSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hide credential form fields in error reports even where no view marked them sensitive.

    ``sensitive_post_parameters`` is the first line; it misses fields a third-party view forgets,
    and an inner decorator replaces an outer one's list (django-oauth-toolkit's token view marks
    only ``password`` and ``client_secret``, so an authorization code, a PKCE verifier or a refresh
    token in a failed token request was mailed in clear). ``Authorization`` and cookie headers are
    already hidden by Django's own filter.
    """

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None or not self.is_active(request):
            return parameters
        cleansed = parameters.copy()
        for name in cleansed:
            if _CREDENTIAL_FIELD.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed
