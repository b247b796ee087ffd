"""The admin page where staff record a customer's signed paper authorization (ESPI FB 40, offline authorization).

The form only reads and checks what staff typed; ``services.grant_record_offline`` makes the grant,
its Authorization and its tokens, as an online consent does. The tokens are shown once on the page
after saving, for staff to hand to the Third Party; the portal keeps only their checksums.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from custodian.local_dates import end_of_local_day
from custodian.models import RetailCustomer, UsagePoint
from grants import services
from grants.models import BulkUser, ThirdParty
from grants.scopes import ScopeError, parse_scope


class OfflineAuthorizationForm(forms.Form):
    """What a paper authorization says: who, to whom, which usage points, which data, for how long, and its reference."""

    customer = forms.CharField(label=_("Retail customer id"), help_text=_("The RetailCustomer id on the signed form."))
    third_party = forms.ModelChoiceField(
        queryset=ThirdParty.objects.filter(
            role=ThirdParty.Role.THIRD_PARTY, lifecycle=ThirdParty.Lifecycle.PRODUCTION
        ).order_by("name"),
        label=_("Third Party"),
    )
    bulk_id = forms.CharField(
        required=False, label=_("Bulk ID"), help_text=_("Only if the customer joins a bulk user.")
    )
    usage_points = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Usage point ids"),
        help_text=_("The customer's usage points named on the form, one per line or separated by spaces."),
    )
    scope = forms.CharField(
        required=False,
        label=_("Scope"),
        help_text=_(
            "The ESPI scope the customer signed for (FB=...); empty: the Third Party's first registered scope."
        ),
    )
    authorized_from = forms.DateField(
        required=False,
        label=_("Authorized from"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: now."),
    )
    authorized_until = forms.DateField(
        label=_("Authorized until (inclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    signed_on = forms.DateField(label=_("Signed on"), widget=forms.DateInput(attrs={"type": "date"}))
    evidence_reference = forms.CharField(
        max_length=200,
        label=_("Evidence reference"),
        help_text=_("Where the signed paper is kept (document number, scan id): recorded as the consent evidence."),
    )

    def clean_customer(self) -> RetailCustomer:
        customer = (
            RetailCustomer.objects.select_related("user")
            .filter(public_id=self.cleaned_data["customer"].strip())
            .first()
        )
        if customer is None:
            raise ValidationError(gettext("No retail customer has this id."))
        return customer

    def clean(self):
        cleaned = super().clean()
        customer, third_party = cleaned.get("customer"), cleaned.get("third_party")
        if customer is None or third_party is None:
            return cleaned
        ids = self.cleaned_data.get("usage_points", "").split()
        points = list(UsagePoint.objects.filter(customer=customer, public_id__in=ids))
        if not ids or len(points) != len(set(ids)):
            self.add_error("usage_points", gettext("Name usage points of this customer only."))
        cleaned["usage_point_objects"] = points
        bulk_id = cleaned.get("bulk_id", "").strip()
        cleaned["bulk_user"] = None
        if bulk_id:
            cleaned["bulk_user"] = BulkUser.objects.filter(third_party=third_party, bulk_id__exact=bulk_id).first()
            if cleaned["bulk_user"] is None:
                self.add_error("bulk_id", gettext("This Third Party has no bulk user with this Bulk ID."))
        scope = cleaned.get("scope", "").strip()
        if not scope:
            registered = [text for text in third_party.registered_scope_list if "BR=" not in text]
            scope = registered[0] if registered else ""
        if cleaned["bulk_user"] is not None and "BR=" not in scope:
            scope = f"{scope};BR={bulk_id}"
        try:
            parse_scope(scope)
        except ScopeError as exc:
            self.add_error("scope", str(exc))
        cleaned["scope"] = scope
        until, start = cleaned.get("authorized_until"), cleaned.get("authorized_from")
        today = timezone.localdate(timezone=timezone.get_default_timezone())
        if until is not None and until < today:
            self.add_error("authorized_until", gettext("This authorized period has already ended."))
        elif until is not None and start is not None and until < start:
            self.add_error("authorized_until", gettext("The authorized period ends before it starts."))
        return cleaned


def offline_authorization_view(model_admin, request):
    """GET: the form. POST: record the paper authorization and show its tokens once."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    form = OfflineAuthorizationForm(request.POST or None)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": gettext("Record an offline (paper) authorization"),
        "form": form,
    }
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        start = data.get("authorized_from")
        try:
            recorded = services.grant_record_offline(
                customer=data["customer"],
                third_party=data["third_party"],
                usage_points=data["usage_point_objects"],
                scope=data["scope"],
                authorized_start=end_of_local_day(start - timedelta(days=1)) if start else None,
                authorized_end=end_of_local_day(data["authorized_until"]),
                evidence_reference=data["evidence_reference"],
                signed_on=data["signed_on"],
                bulk_user=data["bulk_user"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            context.update({"title": gettext("Offline authorization recorded"), "recorded": recorded})
            response = TemplateResponse(request, "admin/grants/grant/offline_recorded.html", context)
            response["Cache-Control"] = "no-store"
            return response
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/grants/grant/offline_form.html", context, status=status)
