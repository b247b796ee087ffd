"""Third Parties, bulk users and grants (ESPI ApplicationInformation, Bulk, Authorization + Subscription).

A *grant* is one retail customer's consent to one Third Party, optionally as a member of one of
that Third Party's bulk users. It names an explicit set of usage points, the function blocks it
covers, interval and history limits, and an authorized period. Its ``public_id`` is the ESPI
Authorization id; its ``subscription_id`` the ESPI Subscription id. Access tokens issued for it are
bound to it through :class:`GrantToken`, so revoking the grant revokes exactly those tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import identify_hasher
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from oauth2_provider.models import AbstractApplication
from oauth2_provider.settings import oauth2_settings

from custodian.models import PublicIdField, RetailCustomer, UsagePoint
from grants.sealing import secret_seal

bulk_id_validator = RegexValidator(
    r"^[0-9A-Za-z-]{1,64}\Z", _("A Bulk ID is 1 to 64 letters, digits or hyphens (ESPI scope grammar brID).")
)


class ThirdParty(AbstractApplication):
    """An OAuth 2.0 client with its ESPI ApplicationInformation.

    The django-oauth-toolkit Application model is swapped for this one
    (``OAUTH2_PROVIDER_APPLICATION_MODEL``). Two roles share it: Third Parties, which hold
    authorization-code grants and a client-credentials token for their bulks, and the utility's
    back-office (custodian) clients, which upload and download through client credentials only.
    """

    class Role(models.TextChoices):
        THIRD_PARTY = "third_party", _("Third Party")
        CUSTODIAN = "custodian", _("Data Custodian back office")

    class Lifecycle(models.IntegerChoices):
        """ESPI dataCustodianApplicationStatus, set by the utility only."""

        REVIEW = 1, pgettext_lazy("third party lifecycle", "Review")
        PRODUCTION = 2, pgettext_lazy("third party lifecycle", "Production")
        ON_HOLD = 3, pgettext_lazy("third party lifecycle", "On Hold")
        REVOKED = 4, pgettext_lazy("third party lifecycle", "Revoked")

    class ApplicationType(models.IntegerChoices):
        WEB = 1, _("Web")
        DESKTOP = 2, _("Desktop")
        MOBILE = 3, _("Mobile")
        DEVICE = 4, _("Other device")

    class ApplicationUse(models.IntegerChoices):
        ENERGY_MANAGEMENT = 1, _("Energy management")
        ANALYTICAL = 2, _("Analytical")
        GOVERNMENTAL = 3, _("Governmental")
        ACADEMIC = 4, _("Academic")
        LAW_ENFORCEMENT = 5, _("Law enforcement")

    public_id = PublicIdField(help_text=_("The ApplicationInformation id in ESPI URLs."), verbose_name=_("public id"))
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.THIRD_PARTY, verbose_name=_("role"))
    lifecycle = models.PositiveSmallIntegerField(
        choices=Lifecycle.choices, default=Lifecycle.REVIEW, verbose_name=_("lifecycle")
    )
    lifecycle_changed_at = models.DateTimeField(default=timezone.now, verbose_name=_("lifecycle changed at"))
    lifecycle_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The staff member who made the last lifecycle change."),
        verbose_name=_("lifecycle changed by"),
    )
    lifecycle_swept_to = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "On Hold or Revoked: the last grant id whose row work (revocation, e-mail) is done; "
            "empty once the sweep finished (grants.services.third_party_lifecycle_sweep)."
        ),
        verbose_name=_("lifecycle swept to"),
    )
    description = models.CharField(
        max_length=256,
        blank=True,
        help_text=_("thirdPartyApplicationDescription: shown to customers as the purpose."),
        verbose_name=_("description"),
    )
    application_type = models.PositiveSmallIntegerField(
        choices=ApplicationType.choices, default=ApplicationType.WEB, verbose_name=_("application type")
    )
    application_use = models.PositiveSmallIntegerField(
        choices=ApplicationUse.choices, default=ApplicationUse.ENERGY_MANAGEMENT, verbose_name=_("application use")
    )
    phone = models.CharField(max_length=32, blank=True, verbose_name=_("phone"))
    notify_uri = models.URLField(
        blank=True,
        help_text=_("thirdPartyNotifyUri: where BatchList notifications are POSTed."),
        verbose_name=_("notify uri"),
    )
    user_portal_uri = models.URLField(blank=True, verbose_name=_("user portal uri"))
    logo_uri = models.URLField(blank=True, verbose_name=_("logo uri"))
    client_uri = models.URLField(blank=True, verbose_name=_("client uri"))
    scope_selection_uri = models.URLField(
        "thirdPartyScopeSelectionScreenURI",
        blank=True,
        help_text=_("The Third Party's scope-selection screen: customers who start from “share my data” go there."),
    )
    tos_uri = models.URLField(blank=True, verbose_name=_("tos uri"))
    policy_uri = models.URLField(blank=True, verbose_name=_("policy uri"))
    software_id = models.CharField(max_length=256, blank=True, verbose_name=_("software id"))
    software_version = models.CharField(max_length=32, blank=True, verbose_name=_("software version"))
    contacts = models.TextField(blank=True, help_text=_("One e-mail address per line."), verbose_name=_("contacts"))
    registered_scopes = models.TextField(
        blank=True,
        help_text=_("The ESPI scope strings this client may ask for, one per line."),
        verbose_name=_("registered scopes"),
    )
    lenient_uploads = models.BooleanField(
        default=False,
        help_text=_(
            "Read this client's batch uploads in lenient mode: what real files do (bare UUIDs, missing ids, "
            "relative hrefs, date-only stamps) is normalized and reported on each entry. Off: uploads must be strict ESPI."
        ),
        verbose_name=_("lenient uploads"),
    )
    espi_compatibility = models.BooleanField(
        _("ESPI compatibility"),
        default=False,
        help_text=_(
            "Lets this confidential Third Party authorize without PKCE and send token requests with their "
            "parameters in the URL query or by GET, as GBA's certification harness and older ESPI software do. "
            "Risk: without PKCE an authorization code stolen in transit can be exchanged by anyone who also "
            "holds the client secret, and credentials sent in a URL can be kept by proxies and browser history "
            "(this portal never logs them). Leave it off unless the Third Party cannot send PKCE and form POSTs."
        ),
    )
    client_secret_sealed = models.TextField(
        blank=True,
        editable=False,
        help_text=_(
            "The client secret encrypted at rest (grants.sealing), returned only on a registration-token read."
        ),
        verbose_name=_("client secret sealed"),
    )
    daily_new_data_notice = models.BooleanField(
        default=False,
        help_text=_("Send a daily BatchList naming the grants and bulks that received new data the day before."),
        verbose_name=_("daily new data notice"),
    )
    rate_limit_per_second = models.PositiveIntegerField(
        default=20,
        help_text=_("ESPI API calls allowed per second; past it the client gets 429 with Retry-After."),
        verbose_name=_("rate limit per second"),
    )
    rate_limit_per_hour = models.PositiveIntegerField(
        default=5_000, help_text=_("ESPI API calls allowed per hour."), verbose_name=_("rate limit per hour")
    )
    rate_limit_per_day = models.PositiveIntegerField(
        default=20_000, help_text=_("ESPI API calls allowed per day."), verbose_name=_("rate limit per day")
    )

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = _("third party")
        verbose_name_plural = _("third parties")
        constraints = [
            models.CheckConstraint(condition=Q(lifecycle__in=[1, 2, 3, 4]), name="thirdparty_lifecycle_known"),
            models.CheckConstraint(condition=Q(role__in=["third_party", "custodian"]), name="thirdparty_role_known"),
        ]

    def __str__(self) -> str:
        return self.name or self.client_id

    def save(self, *args, **kwargs):
        """Seal a new raw client secret before django-oauth-toolkit hashes it (see grants.sealing)."""
        if self.client_secret and self.hash_client_secret:
            try:
                identify_hasher(self.client_secret)
            except ValueError:
                self.client_secret_sealed = secret_seal(self.client_secret)
                update_fields = kwargs.get("update_fields")
                if update_fields is not None and "client_secret" in update_fields:
                    kwargs["update_fields"] = {*update_fields, "client_secret_sealed"}
        super().save(*args, **kwargs)

    def allows_grant_type(self, *grant_types: str) -> bool:
        """Third Parties use authorization code and client credentials; back-office clients only the latter.

        ESPI gives one ApplicationInformation several ``grant_types``, where django-oauth-toolkit's
        Application holds one; this widens it to exactly the ESPI set.
        """
        if self.role == self.Role.CUSTODIAN:
            allowed = {self.GRANT_CLIENT_CREDENTIALS}
        else:
            allowed = {self.GRANT_AUTHORIZATION_CODE, self.GRANT_CLIENT_CREDENTIALS}
        return bool(allowed.intersection(grant_types))

    def is_usable(self, request) -> bool:
        """Let only clients in Production authenticate or present tokens (django-oauth-toolkit hook).

        django-oauth-toolkit asks this both when a client authenticates (authorize, token, revoke)
        and when one of its tokens is presented, so a Third Party On Hold or Revoked gets no token
        and its existing tokens reach nothing (ESPI dataCustodianApplicationStatus).
        """
        return self.lifecycle == self.Lifecycle.PRODUCTION

    @property
    def is_in_production(self) -> bool:
        return self.lifecycle == self.Lifecycle.PRODUCTION

    @property
    def registered_scope_list(self) -> list[str]:
        return [line.strip() for line in self.registered_scopes.splitlines() if line.strip()]


class BulkUser(models.Model):
    """An identity owned by one Third Party, named by a Bulk ID (``BR={bulk_id}``).

    Many customers can grant it access; its reach is the union of its active member grants.
    Bulk IDs are matched exactly, as whole strings: bulk ``1`` is not bulk ``10``.
    """

    third_party = models.ForeignKey(
        ThirdParty, on_delete=models.PROTECT, related_name="bulk_users", verbose_name=_("third party")
    )
    bulk_id = models.CharField(max_length=64, validators=[bulk_id_validator], verbose_name=_("Bulk ID"))
    name = models.CharField(max_length=200, verbose_name=pgettext_lazy("field", "name"))
    description = models.CharField(max_length=256, blank=True, verbose_name=_("description"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("bulk user")
        verbose_name_plural = _("bulk users")
        ordering = ["third_party", "bulk_id"]
        constraints = [
            models.UniqueConstraint(fields=["third_party", "bulk_id"], name="bulkuser_unique_per_third_party"),
            models.CheckConstraint(
                condition=Q(bulk_id__regex=r"^[0-9A-Za-z-]{1,64}$"), name="bulkuser_bulk_id_grammar"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (BR={self.bulk_id})"


class Grant(models.Model):
    """One customer's consent to one Third Party: ESPI Authorization + Subscription."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("grant status", "Active")
        REVOKED = "revoked", pgettext_lazy("grant status", "Revoked")
        EXPIRED = "expired", pgettext_lazy("grant status", "Expired")
        DENIED = "denied", pgettext_lazy("grant status", "Denied")

    public_id = PublicIdField(help_text=_("The ESPI Authorization id."), verbose_name=_("public id"))
    subscription_id = PublicIdField(help_text=_("The ESPI Subscription id."), verbose_name=_("subscription id"))
    customer = models.ForeignKey(
        RetailCustomer, on_delete=models.PROTECT, related_name="grants", verbose_name=_("customer")
    )
    third_party = models.ForeignKey(
        ThirdParty, on_delete=models.PROTECT, related_name="grants", verbose_name=_("third party")
    )
    bulk_user = models.ForeignKey(
        BulkUser, on_delete=models.PROTECT, null=True, blank=True, related_name="grants", verbose_name=_("bulk user")
    )
    usage_points = models.ManyToManyField(
        UsagePoint, through="GrantUsagePoint", related_name="grants", verbose_name=_("usage points")
    )
    scope = models.CharField(
        max_length=256, help_text=_("The ESPI scope string actually granted (canonical)."), verbose_name=_("scope")
    )
    function_blocks = models.JSONField(
        default=list, help_text=_("Function block numbers, ascending."), verbose_name=_("function blocks")
    )
    interval_duration = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Minimum interval, seconds."), verbose_name=_("interval duration")
    )
    block_duration = models.CharField(max_length=32, blank=True, verbose_name=_("block duration"))
    history_length = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("Seconds of history."), verbose_name=_("history length")
    )
    authorized_start = models.DateTimeField(verbose_name=_("authorized start"))
    authorized_end = models.DateTimeField(verbose_name=_("authorized end"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.ACTIVE, db_index=True, verbose_name=_("status")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    consent = models.JSONField(
        default=dict, blank=True, help_text=_("Consent evidence: what was shown and chosen."), verbose_name=_("consent")
    )
    customer_records = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "The customer's own records shared (customer.xsd): name_address, account_billing; "
            "each chosen on its own, never implied by usage consent."
        ),
        verbose_name=_("customer records"),
    )
    replaced_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replaced",
        help_text=_("The grant the customer gave the same Third Party (or bulk) again, which ended this one."),
        verbose_name=_("replaced by"),
    )
    expiry_notice_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the customer was told the grant ends within 30 days."),
        verbose_name=_("expiry notice sent at"),
    )

    class Meta:
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["third_party", "status"], name="grant_third_party_status"),
            models.Index(fields=["bulk_user", "status"], name="grant_bulk_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(authorized_end__gt=models.F("authorized_start")), name="grant_period_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "revoked", "expired", "denied"]), name="grant_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(status="revoked") | Q(revoked_at__isnull=False), name="grant_revoked_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"Grant {self.public_id} ({self.customer} → {self.third_party})"

    def is_active_at(self, moment: datetime) -> bool:
        """Return whether the grant reaches data at ``moment`` (status, period and Third Party lifecycle)."""
        return (
            self.status == self.Status.ACTIVE
            and self.authorized_start <= moment < self.authorized_end
            and self.third_party.lifecycle == ThirdParty.Lifecycle.PRODUCTION
        )

    @property
    def is_active(self) -> bool:
        return self.is_active_at(timezone.now())


class GrantUsagePointManager(models.Manager["GrantUsagePoint"]):
    def bulk_create(self, objs: Iterable[GrantUsagePoint], *args: Any, **kwargs: Any) -> list[GrantUsagePoint]:
        objs = list(objs)
        grant_field = self.model._meta.get_field("grant")
        # Links given a grant id rather than the grant: their bulks in one query, not one per link.
        unloaded = {obj.grant_id for obj in objs if not grant_field.is_cached(obj)}
        bulks = dict(Grant.objects.filter(pk__in=unloaded).values_list("pk", "bulk_user_id")) if unloaded else {}
        for obj in objs:
            obj.bulk_user_id = obj.grant.bulk_user_id if grant_field.is_cached(obj) else bulks.get(obj.grant_id)
        return super().bulk_create(objs, *args, **kwargs)


class GrantUsagePoint(models.Model):
    """A usage point named by a grant; ``revoked_at`` set when the customer takes it back.

    ``bulk_user`` is the grant's, copied by save and bulk_create (a grant's bulk never changes):
    a page of ``Batch/Bulk`` walks only its own bulk's links in usage point order (index
    ``grantusagepoint_bulk_walk``), not every link that lies after its cursor.
    """

    grant = models.ForeignKey(
        Grant, on_delete=models.CASCADE, related_name="grant_usage_points", verbose_name=_("grant")
    )
    usage_point = models.ForeignKey(
        UsagePoint, on_delete=models.PROTECT, related_name="grant_usage_points", verbose_name=_("usage point")
    )
    bulk_user = models.ForeignKey(
        BulkUser,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        editable=False,
        verbose_name=_("bulk user"),
    )
    added_at = models.DateTimeField(default=timezone.now, verbose_name=_("added at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    objects = GrantUsagePointManager()

    class Meta:
        verbose_name = _("grant usage point")
        verbose_name_plural = _("grant usage points")
        constraints = [models.UniqueConstraint(fields=["grant", "usage_point"], name="grantusagepoint_unique")]
        indexes = [
            models.Index(
                fields=["bulk_user", "usage_point"],
                name="grantusagepoint_bulk_walk",
                condition=Q(bulk_user__isnull=False, revoked_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.grant.public_id} / {self.usage_point.public_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "bulk_user" in update_fields:
            # A save of other fields only (a revocation's revoked_at) leaves the copy as it is, unread.
            self.bulk_user_id = self.grant.bulk_user_id
        super().save(*args, **kwargs)


class GrantToken(models.Model):
    """Binds an access token to the one grant it reaches (PRODUCT: an access_token is bound to one grant)."""

    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL,
        on_delete=models.CASCADE,
        related_name="grant_binding",
        verbose_name=_("access token"),
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="token_bindings", verbose_name=_("grant"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("grant token")
        verbose_name_plural = _("grant tokens")

    def __str__(self) -> str:
        return f"token for {self.grant.public_id}"


class GrantCode(models.Model):
    """Binds an authorization code to the grant the customer created on the consent screen.

    The code row is deleted when it is exchanged (single use, RFC 6749 section 4.1.2); this binding
    stays, with no code and the code's checksum, so a replay of the code is recognised and revokes
    the tokens issued from it. The access token issued for it is bound through :class:`GrantToken`.
    """

    authorization_code = models.OneToOneField(
        oauth2_settings.GRANT_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="espi_grant_binding",
        verbose_name=_("authorization code"),
    )
    code_checksum = models.CharField(
        max_length=64, blank=True, db_index=True, help_text=_("SHA-256 of the code."), verbose_name=_("code checksum")
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="code_bindings", verbose_name=_("grant"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("grant code")
        verbose_name_plural = _("grant codes")

    def __str__(self) -> str:
        return f"code for {self.grant.public_id}"


class Notification(models.Model):
    """One outbox row: a BatchList of resource URIs owed to a Third Party's ``notify_uri``.

    Written in the same transaction as the change it announces, so a change that commits always
    leaves its notification behind and a rolled-back one never does; the delivery worker sends it
    after commit, grouped per Third Party, and retries with backoff.
    """

    class Kind(models.TextChoices):
        NEW_DATA = "new_data", _("New data")
        GRANT_CREATED = "grant_created", _("Grant created")
        GRANT_CHANGED = "grant_changed", _("Grant changed (usage point taken back)")
        GRANT_REVOKED = "grant_revoked", _("Grant revoked")
        GRANT_EXPIRED = "grant_expired", _("Grant expired")
        APPLICATION_INFORMATION_CHANGED = "app_info_changed", _("ApplicationInformation changed")
        BATCH_READY = "batch_ready", _("Batch result ready")

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("notification status", "Pending")
        DELIVERED = "delivered", pgettext_lazy("notification status", "Delivered")
        FAILED = "failed", pgettext_lazy("notification status", "Failed")

    third_party = models.ForeignKey(
        ThirdParty, on_delete=models.PROTECT, related_name="notifications", verbose_name=_("third party")
    )
    grant = models.ForeignKey(
        Grant, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications", verbose_name=_("grant")
    )
    bulk_user = models.ForeignKey(
        BulkUser,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("bulk user"),
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=pgettext_lazy("notification", "kind"))
    resources = models.JSONField(
        default=list, help_text=_("Absolute URIs the Third Party should fetch."), verbose_name=_("resources")
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt at"))
    last_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last attempt at"))
    last_status = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("HTTP status of the last attempt."), verbose_name=_("last status")
    )
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]), name="notification_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False), name="notification_delivered_has_time"
            ),
        ]

    def __str__(self) -> str:
        # English whatever the request's language: the admin stores it (LogEntry.object_repr).
        with translation.override("en"):
            return f"{self.get_kind_display()} for {self.third_party} ({self.status})"
