"""Strings of installed apps that ship no Spanish, shown in this portal's admin.

django-axes (the login throttle's attempts, failures and logs) and django-oauth-toolkit (the token and
application fields the Third Party and token admin shows) mark their labels for translation but carry
no ``es`` catalogue. Their Spanish lives in ``locale/es/LC_MESSAGES/django.po``, which takes precedence
over the apps' own catalogues (``LOCALE_PATHS``); listing the msgids here keeps ``makemessages`` from
dropping them as obsolete. Nothing imports this module: it is read by ``xgettext`` only.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

AXES = (
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access Attempt"),
    gettext_noop("Access lock out"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Attempt Time"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Expires At"),
    gettext_noop("Failed Logins"),
    gettext_noop("Form Data"),
    gettext_noop("GET Data"),
    gettext_noop("HTTP Accept"),
    gettext_noop("IP Address"),
    gettext_noop("Locked Out"),
    gettext_noop("Logout Time"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("POST Data"),
    gettext_noop("Path"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("User Agent"),
)

OAUTH_TOOLKIT = (
    gettext_noop("client ID"),
    gettext_noop("redirect URIs"),
    gettext_noop("Allowed URIs list, space separated"),
    gettext_noop("created"),
    gettext_noop("updated"),
    gettext_noop("application"),
    gettext_noop("expires"),
    gettext_noop("revoked"),
)
