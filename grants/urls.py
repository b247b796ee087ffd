"""OAuth endpoints and the customer's consent and grant pages.

The OAuth endpoints carry django-oauth-toolkit's URL namespace (``oauth2_provider``) so its
metadata document finds them. ESPI clients use them without a trailing slash (``/oauth/token``);
both forms are accepted.
"""

from __future__ import annotations

from django.urls import include, path, re_path
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as oauth_views

from custodian.throttle import token_endpoint_throttled
from grants import apis, views

# Every field of the revocation and introspection endpoints is a credential or names one: error
# reports show none of them. The token endpoint's own decorator (django-oauth-toolkit) narrows the
# list to password and client_secret; custodian.error_reports hides code, code_verifier and
# refresh_token there too.
_credentials_hidden = sensitive_post_parameters()

oauth_patterns = (
    [
        re_path(r"^oauth/authorize/?$", views.ConsentView.as_view(), name="authorize"),
        re_path(r"^oauth/token/?$", token_endpoint_throttled(apis.EspiTokenView.as_view()), name="token"),
        re_path(
            r"^oauth/revoke_token/?$", _credentials_hidden(oauth_views.RevokeTokenView.as_view()), name="revoke-token"
        ),
        re_path(r"^oauth/introspect/?$", _credentials_hidden(apis.IntrospectApi.as_view()), name="introspect"),
        re_path(r"^oauth/register/?$", apis.DynamicRegistrationApi.as_view(), name="register"),
        path(
            ".well-known/oauth-authorization-server",
            apis.EspiServerMetadataView.as_view(),
            name="oauth-server-metadata",
        ),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path("accounts/login/", views.PortalLoginView.as_view(), name="login"),
    path("", include(oauth_patterns)),
    re_path(r"^oauth/token_grant/?$", apis.TokenGrantApi.as_view(), name="token-grant"),
    path("share/", views.ShareListView.as_view(), name="share"),
    path("share/<str:third_party_id>/", views.ShareIndividualView.as_view(), name="share-individual"),
    path("share/<str:third_party_id>/bulk/<str:bulk_id>/", views.ShareBulkView.as_view(), name="share-bulk"),
    re_path(r"^oauth/scope-selection/?$", views.ScopeSelectionView.as_view(), name="scope-selection"),
    path("grants/", views.GrantListView.as_view(), name="grant-list"),
    path("grants/<str:grant_id>/revoke/", views.GrantRevokeView.as_view(), name="grant-revoke"),
    path(
        "grants/<str:grant_id>/usage-points/<str:usage_point_id>/revoke/",
        views.GrantUsagePointRevokeView.as_view(),
        name="grant-usage-point-revoke",
    ),
    path(
        "grants/<str:grant_id>/records/<str:record_key>/revoke/",
        views.GrantRecordsRevokeView.as_view(),
        name="grant-records-revoke",
    ),
    path("history/", views.AccessHistoryView.as_view(), name="history"),
]
