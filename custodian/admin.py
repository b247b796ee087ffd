"""Admin for utility staff: customers, usage points, meter data, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from custodian import services
from custodian.admin_tools import CsvExportMixin, LargeTableMixin, fixed_choices_filter
from custodian.models import (
    AuditEvent,
    CustomerRecord,
    ElectricPowerQualitySummary,
    IntervalBlock,
    LocalTimeParameters,
    MeterReading,
    ReadingType,
    RetailCustomer,
    ServiceKind,
    UsagePoint,
    UsageSummary,
    User,
)

admin.site.site_header = _("Green Button Data Custodian")
admin.site.site_title = _("Data Custodian admin")
admin.site.index_title = _("Utility staff")


@admin.register(User)
class UserAdmin(LargeTableMixin, DjangoUserAdmin):
    search_fields = ("^username", "^email")


class ReadOnlyImportedMixin:
    """Imported meter data is evidence: staff read it, the import path writes it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class UsagePointInline(admin.TabularInline):
    model = UsagePoint
    fields = ("public_id", "title", "service_kind", "status")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class CustomerOnboardingForm(forms.ModelForm):
    """One form for a new customer: login, e-mail, usage points, and the invitation to set a password."""

    username = forms.CharField(
        label=_("Username"), max_length=150, help_text=_("The login name the customer will use.")
    )
    email = forms.EmailField(
        label=_("E-mail address"), help_text=_("The invitation (a link to set a password) is sent here.")
    )
    usage_points = forms.CharField(
        label=_("Usage points"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One usage point title per line (e.g. Home, Garage)."),
    )
    service_kind = forms.TypedChoiceField(
        label=_("Service kind"), choices=ServiceKind.choices, coerce=int, initial=ServiceKind.ELECTRICITY
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=lambda: [("", _("the utility's default (LANGUAGE_CODE)")), *settings.LANGUAGES],
        required=False,
        help_text=_("The invitation and every later e-mail are written in it; the customer's switch changes it."),
    )
    send_invitation = forms.BooleanField(label=_("Send invitation"), required=False, initial=True)

    class Meta:
        model = RetailCustomer
        fields = ("name",)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if User.objects.filter(username=username).exists():
            raise forms.ValidationError(gettext("This username is taken."))
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(gettext("Another login already has this e-mail address."))
        return email


@admin.register(RetailCustomer)
class RetailCustomerAdmin(LargeTableMixin, admin.ModelAdmin):
    list_display = ("name", "public_id", "user", "created_at")
    search_fields = ("^name", "=public_id", "=user__username", "^user__email")
    readonly_fields = ("public_id", "user", "language", "created_at", "customer_records")
    list_select_related = ("user",)
    inlines = [UsagePointInline]
    actions = ["send_invitation"]
    change_form_template = "admin/custodian/retailcustomer/change_form.html"
    add_fieldsets = (
        (
            None,
            {"fields": ("name", "username", "email", "usage_points", "service_kind", "language", "send_invitation")},
        ),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CustomerOnboardingForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Customer records (personal data, shared only by the customer's own choice)"))
    def customer_records(self, obj):
        """The customer's own records (customer.xsd), each a link to its page."""
        records = CustomerRecord.objects.filter(customer=obj).defer("content").order_by("kind", "pk")
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> {}</li>',
            (
                (
                    reverse("admin:custodian_customerrecord_change", args=[record.pk]),
                    record.get_kind_display(),
                    record.label,
                )
                for record in records[:200]
            ),
        )
        return format_html("<ul>{}</ul>", items) if records else gettext("none")

    def save_model(self, request, obj, form, change):
        if change:
            services.retail_customer_rename(customer=obj, name=form.cleaned_data["name"], actor=request.user)
            return
        onboarding = services.retail_customer_onboard(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            name=form.cleaned_data["name"],
            usage_point_titles=form.cleaned_data["usage_points"].splitlines(),
            service_kind=form.cleaned_data["service_kind"],
            invite=form.cleaned_data["send_invitation"],
            language=form.cleaned_data.get("language") or "",
            actor=request.user,
        )
        obj.pk = onboarding.customer.pk
        if onboarding.invited:
            self.message_user(
                request,
                gettext("Invitation e-mailed to %(email)s.") % {"email": form.cleaned_data["email"]},
                messages.SUCCESS,
            )

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description=_("Send the invitation (set-password link) again"), permissions=["change"])
    def send_invitation(self, request, queryset):
        sent = 0
        for customer in queryset.select_related("user"):
            try:
                services.retail_customer_invite(customer=customer, actor=request.user)
                sent += 1
            except ValidationError as exc:
                self.message_user(request, f"{customer}: {' '.join(exc.messages)}", messages.ERROR)
        if sent:
            self.message_user(
                request,
                ngettext("%(count)d invitation sent.", "%(count)d invitations sent.", sent) % {"count": sent},
                messages.SUCCESS,
            )

    def get_urls(self):
        from django.urls import path

        from custodian.admin_import import import_greenbutton_view

        view = self.admin_site.admin_view(lambda request, object_id: import_greenbutton_view(self, request, object_id))
        extra = [path("<path:object_id>/import/", view, name="custodian_retailcustomer_import")]
        return extra + super().get_urls()


class MeterReadingInline(admin.TabularInline):
    model = MeterReading
    fields = ("public_id", "title", "reading_type", "updated")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(UsagePoint)
class UsagePointAdmin(LargeTableMixin, admin.ModelAdmin):
    list_display = ("title", "public_id", "customer", "service_kind", "status", "updated")
    list_filter = (
        "service_kind",
        fixed_choices_filter(
            "status",
            pgettext_lazy("of a usage point", "status"),
            [("1", pgettext_lazy("usage point status", "on")), ("0", pgettext_lazy("usage point status", "off"))],
        ),
    )
    search_fields = ("=public_id", "=uuid", "^title", "=customer__public_id", "=customer__user__username")
    readonly_fields = ("public_id", "uuid", "published", "updated", "content")
    raw_id_fields = ("customer", "local_time_parameters")
    list_select_related = ("customer",)
    inlines = [MeterReadingInline]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def get_readonly_fields(self, request, obj=None):
        # Data never moves between owners: the grants of the customer who owns a usage point name
        # it, so giving it to another customer would hand that customer's data to those grants.
        return (*self.readonly_fields, "customer") if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
            services.usage_point_update(usage_point=obj, changes=changes, actor=request.user)
            return
        created = services.usage_point_create(
            customer=form.cleaned_data["customer"],
            title=form.cleaned_data.get("title", ""),
            service_kind=form.cleaned_data.get("service_kind", ServiceKind.ELECTRICITY),
            local_time_parameters=form.cleaned_data.get("local_time_parameters"),
            actor=request.user,
        )
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MeterReading)
class MeterReadingAdmin(LargeTableMixin, ReadOnlyImportedMixin, admin.ModelAdmin):
    list_display = ("public_id", "title", "usage_point", "reading_type", "updated")
    search_fields = ("=public_id", "=uuid", "=usage_point__public_id")
    list_select_related = ("usage_point", "reading_type")
    raw_id_fields = ("usage_point", "reading_type")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("usage_point__content", "reading_type__content")


@admin.register(IntervalBlock)
class IntervalBlockAdmin(LargeTableMixin, ReadOnlyImportedMixin, admin.ModelAdmin):
    list_display = ("public_id", "meter_reading", "start", "duration", "reading_count", "updated")
    search_fields = ("=public_id", "=uuid", "=meter_reading__public_id")
    list_select_related = ("meter_reading",)
    raw_id_fields = ("meter_reading",)
    readonly_fields = ("reading_count", "reading_table")

    def get_queryset(self, request):
        # The packed readings are the bulk of the row: the changelist never loads them.
        return super().get_queryset(request).defer("readings")

    @admin.display(description=_("Readings"))
    def reading_table(self, obj):
        """The block's readings as a table: start (UTC), duration, value, cost, quality, tou."""
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    datetime.fromtimestamp(start, tz=UTC).strftime("%Y-%m-%d %H:%M"),
                    duration,
                    *("" if v is None else v for v in rest),
                )
                for start, duration, *rest in obj.reading_list()
            ),
        )
        head = format_html_join(
            "",
            "<th>{}</th>",
            (
                (heading,)
                for heading in (
                    gettext("start (UTC)"),
                    "s",
                    gettext("value"),
                    gettext("cost"),
                    gettext("quality"),
                    "tou",
                )
            ),
        )
        return format_html("<table><tr>{}</tr>{}</table>", head, rows)


@admin.register(ReadingType)
class ReadingTypeAdmin(LargeTableMixin, ReadOnlyImportedMixin, admin.ModelAdmin):
    list_display = ("public_id", "title", "uom", "power_of_ten_multiplier", "interval_length", "kind")
    list_filter = (
        fixed_choices_filter(
            "uom", _("unit"), [("72", "Wh"), ("38", "W"), ("169", pgettext_lazy("unit", "therm")), ("42", "m³")]
        ),
    )
    search_fields = ("=public_id", "=uuid", "^title")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")


@admin.register(LocalTimeParameters)
class LocalTimeParametersAdmin(LargeTableMixin, ReadOnlyImportedMixin, admin.ModelAdmin):
    list_display = ("public_id", "title", "tz_offset", "dst_offset")
    search_fields = ("=public_id", "=uuid")


@admin.register(UsageSummary)
class UsageSummaryAdmin(LargeTableMixin, ReadOnlyImportedMixin, admin.ModelAdmin):
    list_display = ("public_id", "usage_point", "kind", "billing_period_start", "status_time_stamp")
    list_filter = ("kind",)
    search_fields = ("=public_id", "=uuid", "=usage_point__public_id")
    raw_id_fields = ("usage_point",)
    list_select_related = ("usage_point",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content", "usage_point__content")


@admin.register(ElectricPowerQualitySummary)
class ElectricPowerQualitySummaryAdmin(LargeTableMixin, ReadOnlyImportedMixin, admin.ModelAdmin):
    list_display = ("public_id", "usage_point", "summary_interval_start")
    search_fields = ("=public_id", "=uuid", "=usage_point__public_id")
    raw_id_fields = ("usage_point",)
    list_select_related = ("usage_point",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content", "usage_point__content")


@admin.register(CustomerRecord)
class CustomerRecordAdmin(LargeTableMixin, admin.ModelAdmin):
    """A customer's own records (customer.xsd): imported, read here; staff only link them to usage points."""

    list_display = ("label", "kind", "customer", "public_id", "updated")
    list_filter = (
        fixed_choices_filter("kind", pgettext_lazy("what sort of thing", "kind"), list(CustomerRecord.Kind.choices)),
    )
    search_fields = ("=public_id", "=uuid", "^label", "=customer__public_id", "=customer__user__username")
    fields = (
        "customer",
        "kind",
        "label",
        "parent",
        "usage_points",
        "public_id",
        "uuid",
        "published",
        "updated",
        "content",
    )
    readonly_fields = ("customer", "kind", "label", "parent", "public_id", "uuid", "published", "updated", "content")
    list_select_related = ("customer",)
    filter_horizontal = ("usage_points",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "usage_points":
            # Only the usage points of the record's own customer can be linked.
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            record = CustomerRecord.objects.filter(pk=object_id).first() if object_id and object_id.isdigit() else None
            kwargs["queryset"] = UsagePoint.objects.filter(customer=record.customer_id if record else None)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        pass  # every field but the links is read-only; the links are saved by save_related

    def log_change(self, request, obj, message):
        # The admin's history stores str(obj), which names the record's kind: stored in English.
        with translation.override("en"):
            return super().log_change(request, obj, message)

    def save_related(self, request, form, formsets, change):
        services.customer_record_link_usage_points(
            record=form.instance, usage_points=list(form.cleaned_data["usage_points"]), actor=request.user
        )


@admin.register(AuditEvent)
class AuditEventAdmin(CsvExportMixin, LargeTableMixin, admin.ModelAdmin):
    """The audit log: append-only, so read-only here, never deletable; drill down by date, export as CSV."""

    list_display = ("created_at", "action", "summary", "actor_user", "actor_client", "customer")
    list_filter = ("action",)
    search_fields = ("=object_id", "=customer__public_id", "^summary")
    date_hierarchy = "created_at"
    list_select_related = ("actor_user", "actor_client", "customer")
    csv_fields = (
        ("created_at", "when"),
        ("action", "action"),
        ("summary", "summary"),
        ("actor_user__username", "staff or customer"),
        ("actor_client__name", "client"),
        ("customer__public_id", "customer id"),
        ("object_type", "object type"),
        ("object_id", "object id"),
    )

    def get_queryset(self, request):
        # The changelist never reads the detail JSON; the change page loads it for its one row.
        return super().get_queryset(request).defer("detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
