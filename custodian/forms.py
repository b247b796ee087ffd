"""Account forms of the customer portal."""

from __future__ import annotations

from django.contrib.auth.forms import PasswordResetForm
from django.utils import translation

from custodian.selectors import customer_language


class CustomerPasswordResetForm(PasswordResetForm):
    """Django's password reset, its e-mail written in the customer's language.

    The language they chose (``custodian.selectors.customer_language``), else the language of the
    page they asked from, else the utility's LANGUAGE_CODE.
    """

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs) -> None:
        customer = getattr(context["user"], "retail_customer", None)
        with translation.override(customer_language(customer=customer, fallback=translation.get_language())):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)
