"""The consent form: which usage points, which data, until when; approve or deny."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from oauth2_provider.forms import AllowForm

from grants.scopes import REQUIRED_FUNCTION_BLOCKS, EspiScope, describe_function_blocks, scope_with


class ConsentForm(forms.Form):
    """What the customer chooses: usage points (their own only), optional data, a period no longer than offered."""

    allow = forms.BooleanField(required=False)
    usage_points = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Usage points to share"
    )
    function_blocks = forms.TypedMultipleChoiceField(
        required=False, coerce=int, widget=forms.CheckboxSelectMultiple, label="Optional data"
    )
    until = forms.DateField(required=False, label="Share until", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, customer_usage_points, requested: EspiScope, max_until: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.requested = requested
        self.max_until = max_until
        self.usage_point_objects = {point.public_id: point for point in customer_usage_points}
        self.fields["usage_points"].choices = [
            (point.public_id, point.title or f"Usage point {point.public_id}") for point in customer_usage_points
        ]
        optional = sorted(requested.function_blocks - REQUIRED_FUNCTION_BLOCKS)
        self.fields["function_blocks"].choices = list(zip(optional, describe_function_blocks(optional), strict=True))
        self.fields["function_blocks"].initial = optional
        self.fields["until"].initial = max_until

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("allow"):
            return cleaned  # Denying always works, whatever else the form holds.
        if not cleaned.get("usage_points"):
            self.add_error("usage_points", "Choose at least one usage point to share.")
        until = cleaned.get("until")
        if until is None:
            if "until" not in self.errors:
                self.add_error("until", "Choose until when to share.")
        elif until <= timezone.localdate():
            self.add_error("until", "Choose a date after today.")
        elif until > self.max_until:
            self.add_error("until", f"You can share until {self.max_until:%Y-%m-%d} at the latest.")
        return cleaned

    @property
    def chosen_usage_points(self) -> list:
        return [self.usage_point_objects[public_id] for public_id in self.cleaned_data.get("usage_points", [])]

    @property
    def chosen_scope(self) -> EspiScope:
        """Return the requested scope narrowed to the function blocks the customer kept."""
        kept = (self.requested.function_blocks & REQUIRED_FUNCTION_BLOCKS) | set(
            self.cleaned_data.get("function_blocks", [])
        )
        return scope_with(self.requested, function_blocks=frozenset(kept & self.requested.function_blocks))

    @property
    def authorized_end(self):
        """Return the end of the authorized period: the end of the chosen day, UTC."""
        return datetime.combine(self.cleaned_data["until"], time.min, tzinfo=UTC) + timedelta(days=1)


class OAuthConsentForm(AllowForm, ConsentForm):
    """The consent form of ``/oauth/authorize``: the customer's choices plus the OAuth request's hidden fields."""
