"""Admin for utility staff: Third Parties with lifecycle actions, bulk users, grants.

Secrets and tokens are never displayed: client secrets are stored hashed and left out of every
form, and django-oauth-toolkit's token admin is replaced by a masked, read-only one.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import (
    get_access_token_model,
    get_device_grant_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from custodian.admin_tools import IndexedSearchMixin, LargeTableMixin
from grants import services
from grants.admin_consent import consent_record_html
from grants.admin_offline import offline_authorization_view
from grants.models import BulkUser, Grant, GrantUsagePoint, Notification, ThirdParty, bulk_id_validator
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


def _bulk_user_lines(text: str) -> list[tuple[str, str]]:
    """Parse "Bulk ID, then its name" lines; raise ValidationError naming the bad lines."""
    rows: list[tuple[str, str]] = []
    errors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        bulk_id, _, name = line.strip().partition(" ")
        try:
            bulk_id_validator(bulk_id)
        except ValidationError:
            errors.append(
                gettext("line %(number)s: %(bulk_id)s is not a Bulk ID (1 to 64 letters, digits or hyphens)")
                % {"number": number, "bulk_id": repr(bulk_id)}
            )
            continue
        if any(bulk_id == seen for seen, _name in rows):
            errors.append(
                gettext("line %(number)s: Bulk ID %(bulk_id)s is listed twice") % {"number": number, "bulk_id": bulk_id}
            )
            continue
        rows.append((bulk_id, name.strip() or f"Bulk {bulk_id}"))
    if errors:
        raise ValidationError(errors)
    return rows


class ThirdPartyRegistrationForm(forms.ModelForm):
    """Everything ApplicationInformation needs, and the bulk users, for ``services.third_party_register_by_staff``."""

    bulk_users = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Bulk users"),
        help_text=_("One bulk user per line: its Bulk ID, a space, then its name (for example: 1 Solar programme)."),
    )

    class Meta:
        model = ThirdParty
        fields = ("role", *services.THIRD_PARTY_INFORMATION_FIELDS)

    def clean_bulk_users(self) -> list[tuple[str, str]]:
        return _bulk_user_lines(self.cleaned_data.get("bulk_users") or "")

    def clean(self):
        cleaned = super().clean()
        try:
            services.third_party_check_role_fields(role=cleaned.get("role", ""), information=cleaned)
        except ValidationError as exc:
            self.add_error(None, exc)
        _registered_scopes_check(self, cleaned)
        return cleaned


class ThirdPartyChangeForm(forms.ModelForm):
    """The change form: registered scopes are checked here, so a bad one is shown on the form, not a server error."""

    def clean(self):
        cleaned = super().clean()
        _registered_scopes_check(self, cleaned)
        return cleaned


def _registered_scopes_check(form: forms.ModelForm, cleaned: dict) -> None:
    if "registered_scopes" not in cleaned:
        return
    try:
        services.registered_scopes_clean(cleaned["registered_scopes"] or "")
    except ValidationError as exc:
        form.add_error(None, exc)


_INFORMATION_FIELDSETS = (
    ("OAuth", {"fields": ("redirect_uris", "registered_scopes")}),
    (
        _("ESPI compatibility (off by default)"),
        {
            "fields": ("espi_compatibility",),
            "description": _(
                "For Third Parties that cannot send PKCE or form-encoded token requests (GBA's certification "
                "harness, older ESPI software). It weakens protection against stolen authorization codes; "
                "see the field's help text."
            ),
        },
    ),
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
                "scope_selection_uri",
                "tos_uri",
                "policy_uri",
                "software_id",
                "software_version",
                "contacts",
            )
        },
    ),
)


def _credentials_response(model_admin, request, credentials: services.Credentials, *, title: str) -> TemplateResponse:
    """Show a client's new credentials, once: the page is never cached and nothing keeps the raw secret."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": credentials.third_party,
        "title": title,
        "credentials": credentials,
    }
    response = TemplateResponse(request, "admin/grants/thirdparty/credentials.html", context)
    response["Cache-Control"] = "no-store"
    return response


@admin.register(ThirdParty)
class ThirdPartyAdmin(IndexedSearchMixin, admin.ModelAdmin):
    """Registration (secret shown once), information changes, rotation and lifecycle, all through the services."""

    list_display = ("name", "role", "lifecycle", "client_id", "public_id", "lifecycle_changed_at")
    list_filter = ("role", "lifecycle")
    search_fields = ("^name", "=client_id", "=public_id")
    show_full_result_count = False
    readonly_fields = ("public_id", "client_id", "lifecycle", "lifecycle_changed_at", "created", "updated")
    fieldsets = (
        (None, {"fields": ("name", "role", "public_id", "client_id", "lifecycle", "lifecycle_changed_at")}),
        *_INFORMATION_FIELDSETS,
        (_("Uploads"), {"fields": ("lenient_uploads",)}),
        (
            _("Notifications and rate limits"),
            {
                "fields": (
                    "daily_new_data_notice",
                    "rate_limit_per_second",
                    "rate_limit_per_hour",
                    "rate_limit_per_day",
                )
            },
        ),
        (_("Timestamps"), {"fields": ("created", "updated")}),
    )
    add_fieldsets = (
        (None, {"fields": ("name", "role")}),
        *_INFORMATION_FIELDSETS,
        (_("Bulk users"), {"fields": ("bulk_users",)}),
    )
    form = ThirdPartyChangeForm
    inlines = [BulkUserInline]
    actions = ["approve_to_production", "put_on_hold", "revoke"]
    change_form_template = "admin/grants/thirdparty/change_form.html"

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ThirdPartyRegistrationForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        # The role is chosen at registration: turning a Third Party into a back-office client would
        # give its client token every customer's data, without an audit row.
        if obj is None:
            return ()
        return (*self.readonly_fields, "role")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            changed = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
            lenient = changed.pop("lenient_uploads", None)
            services.third_party_update(third_party=obj, information=changed, actor=request.user)
            if lenient is not None:
                services.third_party_set_lenient_uploads(third_party=obj, lenient=lenient, actor=request.user)
            return
        information = {name: form.cleaned_data[name] for name in services.THIRD_PARTY_INFORMATION_FIELDS}
        credentials = services.third_party_register_by_staff(
            role=form.cleaned_data["role"],
            information=information,
            bulk_users=form.cleaned_data["bulk_users"],
            actor=request.user,
        )
        obj.pk = credentials.third_party.pk
        obj.client_id = credentials.third_party.client_id
        request._new_credentials = credentials  # kept in this request's memory only, for response_add

    def save_related(self, request, form, formsets, change):
        # No many-to-many to save, and the bulk user inline is read-only (its formsets change nothing).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(self, request, obj, post_url_continue=None):
        credentials = getattr(request, "_new_credentials", None)
        if credentials is None:
            return super().response_add(request, obj, post_url_continue)
        return _credentials_response(
            self, request, credentials, title=gettext("%(third_party)s registered") % {"third_party": obj}
        )

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        extra = [
            path("<path:object_id>/rotate-secret/", wrap(self.rotate_secret_view), name="grants_thirdparty_rotate"),
            path("<path:object_id>/approve/", wrap(self.approve_view), name="grants_thirdparty_approve"),
            path(
                "<path:object_id>/register-again/",
                wrap(self.register_again_view),
                name="grants_thirdparty_register_again",
            ),
        ]
        return extra + super().get_urls()

    def _object_for_post(self, request, object_id: str, *, add: bool = False) -> ThirdParty:
        if request.method != "POST":
            raise PermissionDenied
        allowed = self.has_add_permission(request) if add else self.has_change_permission(request)
        if not allowed:
            raise PermissionDenied
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such Third Party.")
        return obj

    def rotate_secret_view(self, request, object_id: str):
        """Ask to confirm (GET); replace the client secret and show the new one once (POST)."""
        if request.method != "POST":
            third_party = self.get_object(request, object_id)
            if third_party is None or not self.has_change_permission(request, third_party):
                raise Http404("No such Third Party.")
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": third_party,
                "title": gettext("Rotate client secret"),
            }
            return TemplateResponse(request, "admin/grants/thirdparty/rotate_confirm.html", context)
        third_party = self._object_for_post(request, object_id)
        try:
            credentials = services.third_party_rotate_secret(third_party=third_party, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect("admin:grants_thirdparty_change", third_party.pk)
        return _credentials_response(
            self,
            request,
            credentials,
            title=gettext("New client secret for %(third_party)s") % {"third_party": third_party},
        )

    def register_again_view(self, request, object_id: str):
        """Register a revoked Third Party as a new client and show its credentials once."""
        third_party = self._object_for_post(request, object_id, add=True)
        try:
            credentials = services.third_party_register_again(third_party=third_party, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect("admin:grants_thirdparty_change", third_party.pk)
        return _credentials_response(
            self, request, credentials, title=gettext("%(third_party)s registered again") % {"third_party": third_party}
        )

    def approve_view(self, request, object_id: str):
        """Run the approval checklist; show every check, and approve only if all passed."""
        third_party = self._object_for_post(request, object_id)
        try:
            checks = services.third_party_approve(third_party=third_party, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect("admin:grants_thirdparty_change", third_party.pk)
        third_party.refresh_from_db()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": third_party,
            "title": gettext("Approval checklist for %(third_party)s") % {"third_party": third_party},
            "checks": checks,
            "approved": third_party.lifecycle == ThirdParty.Lifecycle.PRODUCTION,
        }
        return TemplateResponse(request, "admin/grants/thirdparty/approval.html", context)

    def _set_lifecycle(self, request, queryset, lifecycle: int) -> None:
        done = 0
        for third_party in queryset:
            try:
                services.third_party_set_lifecycle(third_party=third_party, lifecycle=lifecycle, actor=request.user)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: {' '.join(exc.messages)}", messages.ERROR)
        if done:
            if lifecycle in (ThirdParty.Lifecycle.ON_HOLD, ThirdParty.Lifecycle.REVOKED):
                message = ngettext(
                    "%(count)s Third Party now %(lifecycle)s. Requests are refused now; grants, tokens and "
                    "customers' e-mails follow in the background.",
                    "%(count)s Third Parties now %(lifecycle)s. Requests are refused now; grants, tokens and "
                    "customers' e-mails follow in the background.",
                    done,
                )
            else:
                message = ngettext(
                    "%(count)s Third Party now %(lifecycle)s.", "%(count)s Third Parties now %(lifecycle)s.", done
                )
            self.message_user(request, message % {"count": done, "lifecycle": ThirdParty.Lifecycle(lifecycle).label})

    @admin.action(description=_("Approve to Production (runs the checklist)"), permissions=["change"])
    def approve_to_production(self, request, queryset):
        for third_party in queryset:
            try:
                checks = services.third_party_approve(third_party=third_party, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            failed = [check for check in checks if not check.ok]
            if failed:
                detail = " ".join(f"{check.name}: {check.detail}" for check in failed)
                self.message_user(
                    request,
                    gettext("%(third_party)s not approved. %(detail)s")
                    % {"third_party": third_party, "detail": detail},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    gettext("%(third_party)s approved to Production.") % {"third_party": third_party},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Put On Hold"), permissions=["change"])
    def put_on_hold(self, request, queryset):
        self._set_lifecycle(request, queryset, ThirdParty.Lifecycle.ON_HOLD)

    @admin.action(description=_("Revoke (revokes every grant and token)"), permissions=["change"])
    def revoke(self, request, queryset):
        self._set_lifecycle(request, queryset, ThirdParty.Lifecycle.REVOKED)


@admin.register(BulkUser)
class BulkUserAdmin(LargeTableMixin, admin.ModelAdmin):
    list_display = ("name", "bulk_id", "third_party", "created_at")
    list_filter = ("third_party",)
    search_fields = ("=bulk_id", "^name", "^third_party__name")
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
class GrantAdmin(LargeTableMixin, admin.ModelAdmin):
    """Grants are consent records: staff read them and may revoke them, never edit them."""

    # Status second: it stays on screen at 1280 px whatever the names' lengths.
    list_display = ("public_id", "status", "customer", "third_party", "bulk_user", "authorized_end")
    list_filter = ("status", "third_party", "bulk_user")
    search_fields = (
        "=public_id",
        "=subscription_id",
        "=customer__public_id",
        "=customer__user__username",
        "=bulk_user__bulk_id",
    )
    list_select_related = ("customer", "third_party", "bulk_user")
    # Newest first by primary key: its index serves the page (no sort of the whole table).
    ordering = ("-pk",)
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
        "consent_record",
    )
    exclude = ("usage_points", "consent")
    inlines = [GrantUsagePointInline]
    # The large-table changelist, with a "Record offline authorization" link.
    change_list_template = "admin/grants/grant/change_list.html"
    actions = ["revoke_grants"]

    def get_queryset(self, request):
        # The consent record is read only on a grant's own page.
        return super().get_queryset(request).defer("consent")

    @admin.display(description=_("consent evidence"))
    def consent_record(self, obj: Grant) -> str:
        return consent_record_html(obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_record_offline": self.has_change_permission(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        extra = [
            path(
                "offline/",
                self.admin_site.admin_view(lambda request: offline_authorization_view(self, request)),
                name="grants_grant_offline",
            )
        ]
        return extra + super().get_urls()

    @admin.action(description=_("Revoke selected grants"), permissions=["change"])
    def revoke_grants(self, request, queryset):
        count = 0
        for grant in queryset.filter(status=Grant.Status.ACTIVE):
            services.grant_revoke(grant=grant, actor=request.user, reason="Revoked by utility staff")
            count += 1
        self.message_user(request, gettext("%(count)s grant(s) revoked.") % {"count": count})


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
class AccessTokenAdmin(LargeTableMixin, admin.ModelAdmin):
    list_display = ("masked_token", "application", "user", "expires", "scope")
    list_filter = ("application",)
    list_select_related = ("application", "user")
    fields = ("masked_token", "application", "user", "expires", "scope", "created")
    readonly_fields = fields

    @admin.display(description=_("token"))
    def masked_token(self, obj) -> str:
        return _mask(obj.token_checksum) + " (sha256)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(get_refresh_token_model())
class RefreshTokenAdmin(LargeTableMixin, admin.ModelAdmin):
    list_display = ("masked_token", "application", "user", "revoked")
    list_filter = ("application",)
    list_select_related = ("application", "user")
    fields = ("masked_token", "application", "user", "revoked", "created")
    readonly_fields = fields

    @admin.display(description=_("token"))
    def masked_token(self, obj) -> str:
        return _mask(obj.token_checksum) + " (sha256)"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(LargeTableMixin, admin.ModelAdmin):
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
    search_fields = ("^third_party__name",)
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

    def get_queryset(self, request):
        return super().get_queryset(request).defer("resources")

    @admin.display(description=_("last error"))
    def short_error(self, obj) -> str:
        return obj.last_error[:120]

    def has_add_permission(self, request):
        # Rows come only from the services, in the transaction of the change they announce.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry now (fresh attempt budget)"), permissions=["change"])
    def retry_now(self, request, queryset):
        count = notification_retry(notifications=queryset, actor=request.user)
        self.message_user(
            request, gettext("%(count)s notification(s) queued for delivery now.") % {"count": count}, messages.SUCCESS
        )
