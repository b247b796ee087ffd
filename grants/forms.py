"""The consent form: which usage points, which data, until when; approve or deny."""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from oauth2_provider.forms import AllowForm

from custodian.local_dates import end_of_local_day
from grants.data_categories import (
    CUSTOMER,
    RECORD_CHOICE_BY_KEY,
    RECORD_CHOICES,
    categories_of,
    category_words,
    function_blocks_without,
)
from grants.scopes import EspiScope, scope_with


class ConsentForm(forms.Form):
    """What the customer chooses: usage points (their own only), data to share, a period no longer than offered.

    "Data" offers one choice per data category the scope asks for (in the customer's words); a
    category left unticked removes every function block that carries it. Protocol function blocks
    are kept and never offered.
    """

    allow = forms.BooleanField(required=False)
    usage_points = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label=_("Meters to share")
    )
    # A declared field leaves BaseForm.data (the bound data) alone: the metaclass moves it to base_fields.
    data = forms.MultipleChoiceField(  # type: ignore[assignment]
        required=False, widget=forms.CheckboxSelectMultiple, label=_("Data to share")
    )
    until = forms.DateField(
        required=False, label=_("Share until"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args, customer_usage_points, requested: EspiScope, max_until: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.requested = requested
        self.max_until = max_until
        self.usage_point_objects = {point.public_id: point for point in customer_usage_points}
        self.fields["usage_points"].choices = [
            (point.public_id, point.title or gettext("Meter %(id)s") % {"id": point.public_id})
            for point in customer_usage_points
        ]
        self.offered = categories_of(requested.function_blocks)
        choices: list[tuple[str, str]] = []
        for category in self.offered:
            if category.key == CUSTOMER:
                # The customer's own records: two choices of their own, never ticked for them.
                choices.extend((choice.key, capfirst(str(choice.words))) for choice in RECORD_CHOICES)
            else:
                words = category_words(category, function_blocks=requested.function_blocks, scope=requested)
                choices.append((category.key, capfirst(words)))
        self.fields["data"].choices = choices
        self.fields["data"].initial = [category.key for category in self.offered if category.key != CUSTOMER]
        self.fields["until"].initial = max_until

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("allow"):
            return cleaned  # Denying always works, whatever else the form holds.
        if not cleaned.get("usage_points"):
            self.add_error("usage_points", gettext("Choose at least one meter to share."))
        if not cleaned.get("data") and "data" not in self.errors:
            self.add_error(
                "data",
                gettext("Nothing would be shared: tick at least one kind of data, or choose Deny.")
                if self.offered
                else gettext("This request asks for no data you can share: choose Deny."),
            )
        until = cleaned.get("until")
        if until is None:
            if "until" not in self.errors:
                self.add_error("until", gettext("Choose until when to share."))
        elif until <= timezone.localdate(timezone=timezone.get_default_timezone()):
            self.add_error("until", gettext("Choose a date after today."))
        elif until > self.max_until:
            self.add_error(
                "until",
                gettext("You can share until %(date)s at the latest.")
                % {"date": formats.date_format(self.max_until, "DATE_FORMAT")},
            )
        return cleaned

    @property
    def chosen_usage_points(self) -> list:
        return [self.usage_point_objects[public_id] for public_id in self.cleaned_data.get("usage_points", [])]

    @property
    def chosen_scope(self) -> EspiScope:
        """Return the requested scope without every function block of each category the customer withheld."""
        kept = set(self.cleaned_data.get("data", []))
        if self.chosen_records:
            kept.add(CUSTOMER)
        withheld = [category.key for category in self.offered if category.key not in kept]
        return scope_with(
            self.requested, function_blocks=function_blocks_without(self.requested.function_blocks, withheld=withheld)
        )

    @property
    def chosen_records(self) -> list[str]:
        """Return the customer records the customer chose to share (``Grant.customer_records``), in table order."""
        kept = set(self.cleaned_data.get("data", []))
        return [key for key in RECORD_CHOICE_BY_KEY if key in kept]

    @property
    def authorized_end(self) -> datetime:
        """Return the end of the authorized period: the end of the chosen day in the utility's time zone."""
        return end_of_local_day(self.cleaned_data["until"])


class OAuthConsentForm(AllowForm, ConsentForm):
    """The consent form of ``/oauth/authorize``: the customer's choices plus the OAuth request's hidden fields."""
