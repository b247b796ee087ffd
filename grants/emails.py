"""E-mail to customers about their grants, in each customer's language, sent after the change commits.

One function per event, all through :func:`customer_email_send`: a grant created, about to expire
(30 days before its last day), expired, revoked (by the customer, the utility or the Third Party;
not when a new consent replaced it), and a Third Party the customer shares with put On Hold or
revoked. The text describes the grant with the same table and dates as every other page
(``grants.data_categories.grant_sentence``). Django's mail: the console in development, SMTP
from environment variables in production (README).
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from custodian.selectors import customer_language
from grants.data_categories import grant_sentence
from grants.models import Grant

EXPIRY_NOTICE_DAYS = 30


def customer_email_send(*, grant: Grant, kind: str) -> None:
    """Send the customer of ``grant`` the ``kind`` e-mail once the current transaction commits.

    Subject and body are rendered in the customer's language (``custodian.selectors.customer_language``:
    the one they chose, else the utility's LANGUAGE_CODE); a customer without an e-mail address
    gets none. Nothing is sent if the transaction rolls back.
    """
    address = grant.customer.user.email
    if not address:
        return
    with translation.override(customer_language(customer=grant.customer)):
        context = {
            "name": grant.customer.name,
            "third_party": grant.third_party.name,
            "grant": grant_sentence(grant=grant),
            "portal": settings.PORTAL_BASE_URL.rstrip("/"),
        }
        subject = render_to_string(f"emails/{kind}_subject.txt", context).strip()
        body = render_to_string(f"emails/{kind}.txt", context).strip() + "\n"
    transaction.on_commit(lambda: send_mail(subject=subject, message=body, from_email=None, recipient_list=[address]))
