"""Batch GET endpoints (Atom feeds streamed from the database)."""

from __future__ import annotations

from rest_framework.views import APIView


class BulkFeedApi(APIView):
    """GET Batch/Bulk/{bulkId}: to be built (issue 6)."""


class SubscriptionFeedApi(APIView):
    """GET Batch/Subscription/{subscriptionId}: to be built (issue 6)."""


class RetailCustomerFeedApi(APIView):
    """GET Batch/RetailCustomer/{retailCustomerId}/UsagePoint: to be built (issue 6)."""
