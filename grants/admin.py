"""Admin for utility staff: Third Parties with lifecycle actions, bulk users, grants.

Secrets and tokens are never displayed: client secrets are stored hashed and left out of every
form, and django-oauth-toolkit's token admin is replaced by a masked, read-only one.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from oauth2_provider.models import (
    get_access_token_model,
    get_device_grant_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from grants import services
from grants.models import BulkUser, Grant, GrantUsagePoint, Notification, ThirdParty
from grants.notifications import notification_retry


def _mask(value: str) -> str:
    return f"{value[:4]}…" if value else ""


class BulkUserInline(admin.TabularInline):
    """The Third Party's bulk users, read-only here: they are created through the bulk user admin.

    A Bulk ID is part of scopes already issued and consented to, so it never changes; and creating
    one goes through ``services.bulk_user_create``, which audits it.
    """

    model = BulkUser
    fields = ("bulk_id", "name", "description", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


if admin.site.is_registered(ThirdParty):
    admin.site.unregister(ThirdParty)


@admin.register(ThirdParty)
class ThirdPartyAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "lifecycle", "client_id", "public_id", "lifecycle_changed_at")
    list_filter = ("role", "lifecycle")
    search_fields = ("name", "client_id", "public_id")
    readonly_fields = ("public_id", "client_id", "lifecycle", "lifecycle_changed_at", "created", "updated")
    fieldsets = (
        (None, {"fields": ("name", "role", "public_id", "client_id", "lifecycle", "lifecycle_changed_at")}),
        ("OAuth", {"fields": ("redirect_uris", "registered_scopes")}),
        (
            "ESPI ApplicationInformation",
            {
                "fields": (
                    "description",
                    "application_type",
                    "application_use",
                    "phone",
                    "notify_uri",
                    "user_portal_uri",
                    "logo_uri",
                    "client_uri",
                    "tos_uri",
                    "policy_uri",
                    "software_id",
                    "software_version",
                    "contacts",
                )
            },
        ),
        ("Timestamps", {"fields": ("created", "updated")}),
    )
    inlines = [BulkUserInline]
    actions = ["approve_to_production", "put_on_hold", "revoke"]

    def get_readonly_fields(self, request, obj=None):
        # The role is chosen at registration: turning a Third Party into a back-office client would
        # give its client token every customer's data, without an audit row.
        return (*self.readonly_fields, "role") if obj is not None else self.readonly_fields

    def has_add_permission(self, request):
        # Registration goes through services.third_party_register, which hands out the secret once.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _set_lifecycle(self, request, queryset, lifecycle: int) -> None:
        done = 0
        for third_party in queryset:
            try:
                services.third_party_set_lifecycle(third_party=third_party, lifecycle=lifecycle, actor=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: {' '.join(exc.messages)}", messages.ERROR)
        if done:
            self.message_user(
                request, f"{done} Third Part{'y' if done == 1 else 'ies'} now {ThirdParty.Lifecycle(lifecycle).label}."
            )

    @admin.action(description="Approve to Production", permissions=["change"])
    def approve_to_production(self, request, queryset):
        self._set_lifecycle(request, queryset, ThirdParty.Lifecycle.PRODUCTION)

    @admin.action(description="Put On Hold", permissions=["change"])
    def put_on_hold(self, request, queryset):
        self._set_lifecycle(request, queryset, ThirdParty.Lifecycle.ON_HOLD)

    @admin.action(description="Revoke (revokes every grant and token)", permissions=["change"])
    def revoke(self, request, queryset):
        self._set_lifecycle(request, queryset, ThirdParty.Lifecycle.REVOKED)


@admin.register(BulkUser)
class BulkUserAdmin(admin.ModelAdmin):
    list_display = ("name", "bulk_id", "third_party", "created_at")
    list_filter = ("third_party",)
    search_fields = ("name", "bulk_id", "third_party__name")
    list_select_related = ("third_party",)
    raw_id_fields = ("third_party",)

    def get_readonly_fields(self, request, obj=None):
        # A Bulk ID is part of issued scopes; it never changes once created.
        return ("third_party", "bulk_id", "created_at") if obj else ("created_at",)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.bulk_user_create(
            third_party=obj.third_party,
            bulk_id=obj.bulk_id,
            name=obj.name,
            description=obj.description,
            actor=request.user,
        )
        obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        return False


class GrantUsagePointInline(admin.TabularInline):
    model = GrantUsagePoint
    fields = ("usage_point", "added_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    """Grants are consent records: staff read them and may revoke them, never edit them."""

    list_display = ("public_id", "customer", "third_party", "bulk_user", "status", "authorized_start", "authorized_end")
    list_filter = ("status", "third_party", "bulk_user")
    search_fields = ("public_id", "subscription_id", "customer__name", "third_party__name", "bulk_user__bulk_id")
    list_select_related = ("customer", "third_party", "bulk_user")
    readonly_fields = (
        "public_id",
        "subscription_id",
        "customer",
        "third_party",
        "bulk_user",
        "scope",
        "function_blocks",
        "interval_duration",
        "block_duration",
        "history_length",
        "authorized_start",
        "authorized_end",
        "status",
        "created_at",
        "updated_at",
        "revoked_at",
        "revoked_by",
        "consent",
    )
    exclude = ("usage_points",)
    inlines = [GrantUsagePointInline]
    actions = ["revoke_grants"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected grants", permissions=["change"])
    def revoke_grants(self, request, queryset):
        count = 0
        for grant in queryset.filter(status=Grant.Status.ACTIVE):
            services.grant_revoke(grant=grant, actor=request.user, reason="Revoked by utility staff")
            count += 1
        self.message_user(request, f"{count} grant(s) revoked.")


# django-oauth-toolkit registers admins that would list token values; replace them with masked,
# read-only ones that cannot be searched by token (a search term lands in access logs).
for model in (
    get_access_token_model(),
    get_refresh_token_model(),
    get_id_token_model(),
    get_grant_model(),
    get_device_grant_model(),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(get_access_token_model())
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("masked_token", "application", "user", "expires", "scope")
    list_filter = ("application",)
    list_select_related = ("application", "user")
    fields = ("masked_token", "application", "user", "expires", "scope", "created")
    readonly_fields = fields

    @admin.display(description="token")
    def masked_token(self, obj) -> str:
        return _mask(obj.token_checksum) + " (sha256)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(get_refresh_token_model())
class RefreshTokenAdmin(admin.ModelAdmin):
    list_display = ("masked_token", "application", "user", "revoked")
    list_filter = ("application",)
    list_select_related = ("application", "user")
    fields = ("masked_token", "application", "user", "revoked", "created")
    readonly_fields = fields

    @admin.display(description="token")
    def masked_token(self, obj) -> str:
        return _mask(obj.token_checksum) + " (sha256)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The notification outbox, read-only; failed deliveries can be queued again with "retry now"."""

    list_display = (
        "id",
        "third_party",
        "kind",
        "status",
        "attempts",
        "last_status",
        "short_error",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "kind", "third_party")
    list_select_related = ("third_party",)
    search_fields = ("third_party__name", "last_error")
    date_hierarchy = "created_at"
    readonly_fields = (
        "third_party",
        "grant",
        "bulk_user",
        "kind",
        "resources",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status",
        "last_error",
        "created_at",
        "delivered_at",
    )
    actions = ["retry_now"]

    @admin.display(description="last error")
    def short_error(self, obj) -> str:
        return obj.last_error[:120]

    def has_add_permission(self, request):
        # Rows come only from the services, in the transaction of the change they announce.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry now (fresh attempt budget)", permissions=["change"])
    def retry_now(self, request, queryset):
        count = notification_retry(notifications=queryset, actor=request.user)
        self.message_user(request, f"{count} notification(s) queued for delivery now.", messages.SUCCESS)
