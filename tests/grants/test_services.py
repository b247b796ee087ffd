"""Grant and Third Party services: atomic, audited, and revocation reaches tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from custodian.models import AuditEvent
from grants import services
from grants.models import Grant, GrantUsagePoint, ThirdParty
from tests import factories

pytestmark = pytest.mark.django_db
AccessToken = get_access_token_model()


def actions_for(obj_id: str) -> list[str]:
    return list(AuditEvent.objects.filter(object_id=obj_id).order_by("id").values_list("action", flat=True))


def test_revoking_a_grant_revokes_its_tokens_and_leaves_an_audit_row(grant, customer):
    token = services.grant_token_issue(grant=grant, raw_token="t" * 40)
    services.grant_revoke(grant=grant, actor=customer.user, reason="moving house")
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
    assert grant.revoked_at is not None
    assert grant.revoked_by == customer.user
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    assert actions_for(grant.public_id)[-1] == AuditEvent.Action.GRANT_REVOKED
    event = AuditEvent.objects.filter(object_id=grant.public_id, action=AuditEvent.Action.GRANT_REVOKED).get()
    assert event.customer == customer
    assert event.detail == {"reason": "moving house", "tokens_revoked": 1}


def test_revoking_twice_changes_nothing_the_second_time(grant):
    services.grant_revoke(grant=grant)
    services.grant_revoke(grant=grant)
    assert actions_for(grant.public_id).count(AuditEvent.Action.GRANT_REVOKED) == 1


def test_revoking_one_usage_point_keeps_the_rest_of_the_grant(customer, third_party):
    home = factories.make_usage_point(customer=customer, title="Home")
    garage = factories.make_usage_point(customer=customer, title="Garage")
    grant = factories.make_grant(customer=customer, third_party=third_party, usage_points=[home, garage])
    services.grant_revoke_usage_point(grant=grant, usage_point=garage, actor=customer.user)
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    assert GrantUsagePoint.objects.get(grant=grant, usage_point=garage).revoked_at is not None
    assert GrantUsagePoint.objects.get(grant=grant, usage_point=home).revoked_at is None
    assert actions_for(grant.public_id)[-1] == AuditEvent.Action.GRANT_USAGE_POINT_REVOKED
    with pytest.raises(ValidationError, match="not part of this grant"):
        services.grant_revoke_usage_point(grant=grant, usage_point=garage)


def test_revoking_the_last_usage_point_revokes_the_grant(grant, usage_point):
    services.grant_revoke_usage_point(grant=grant, usage_point=usage_point)
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
    assert actions_for(grant.public_id)[-2:] == [
        AuditEvent.Action.GRANT_USAGE_POINT_REVOKED,
        AuditEvent.Action.GRANT_REVOKED,
    ]


def test_revoking_a_third_party_revokes_all_its_grants_and_tokens(
    customer, other_customer, third_party, django_capture_on_commit_callbacks
):
    grants = [
        factories.make_grant(customer=c, third_party=third_party, usage_points=[factories.make_usage_point(customer=c)])
        for c in (customer, other_customer)
    ]
    tokens = [services.grant_token_issue(grant=g, raw_token=f"{i}" * 40) for i, g in enumerate(grants)]
    with django_capture_on_commit_callbacks() as sweeps:
        services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.REVOKED)
    third_party.refresh_from_db()
    assert third_party.lifecycle == ThirdParty.Lifecycle.REVOKED
    # At once, before any row work: no grant reaches data.
    assert not any(Grant.objects.select_related("third_party").get(pk=g.pk).is_active for g in grants)
    assert third_party.lifecycle_swept_to == 0
    with django_capture_on_commit_callbacks(execute=True):
        for sweep in sweeps:  # the queued sweep (eager Celery without a broker)
            sweep()
    third_party.refresh_from_db()
    assert third_party.lifecycle_swept_to is None
    assert set(Grant.objects.filter(third_party=third_party).values_list("status", flat=True)) == {"revoked"}
    assert not AccessToken.objects.filter(pk__in=[t.pk for t in tokens]).exists()
    assert AuditEvent.Action.THIRD_PARTY_STATUS_CHANGED in actions_for(third_party.public_id)
    for g in grants:
        assert actions_for(g.public_id)[-1] == AuditEvent.Action.GRANT_REVOKED
    with pytest.raises(ValidationError, match="cannot be reinstated"):
        services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.PRODUCTION)


def test_on_hold_keeps_grants_but_they_reach_nothing(grant, third_party):
    services.third_party_set_lifecycle(third_party=third_party, lifecycle=ThirdParty.Lifecycle.ON_HOLD)
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    assert grant.is_active is False


def test_grant_create_refuses_another_customers_usage_point(customer, other_customer, third_party):
    foreign = factories.make_usage_point(customer=other_customer)
    with pytest.raises(ValidationError, match="Only your own usage points"):
        factories.make_grant(customer=customer, third_party=third_party, usage_points=[foreign])
    assert not Grant.objects.exists()


def test_grant_create_refuses_a_scope_the_third_party_did_not_register(customer, usage_point, third_party):
    with pytest.raises(ValidationError, match="not within any scope"):
        factories.make_grant(
            customer=customer, third_party=third_party, usage_points=[usage_point], scope="FB=1_3_4_46"
        )


def test_grant_create_refuses_a_bulk_user_of_another_third_party(customer, usage_point, third_party):
    other, _ = factories.make_third_party(name="Other")
    foreign_bulk = factories.make_bulk_user(third_party=other, bulk_id="7")
    with pytest.raises(ValidationError, match="another Third Party"):
        factories.make_grant(
            customer=customer, third_party=third_party, usage_points=[usage_point], bulk_user=foreign_bulk
        )


def test_grant_create_refuses_a_third_party_not_in_production(customer, usage_point):
    review, _ = factories.make_third_party(name="New", lifecycle=ThirdParty.Lifecycle.REVIEW)
    with pytest.raises(ValidationError, match="not accepting"):
        factories.make_grant(customer=customer, third_party=review, usage_points=[usage_point])


def test_expiry_marks_grants_past_their_end_and_audits(customer, usage_point, third_party):
    grant = factories.make_grant(
        customer=customer,
        third_party=third_party,
        usage_points=[usage_point],
        start=timezone.now() - timedelta(days=10),
        days=5,
    )
    assert services.grant_expire_due() == 1
    grant.refresh_from_db()
    assert grant.status == Grant.Status.EXPIRED
    assert actions_for(grant.public_id)[-1] == AuditEvent.Action.GRANT_EXPIRED
    assert services.grant_expire_due() == 0
