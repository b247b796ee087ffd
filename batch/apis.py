"""Batch POST endpoints (uploads filtered entry by entry to the caller's grants)."""

from __future__ import annotations

from rest_framework.views import APIView


class BulkUploadApi(APIView):
    """POST Batch/Bulk/{bulkId}: to be built (issue 5)."""


class SubscriptionUploadApi(APIView):
    """POST Batch/Subscription/{subscriptionId}: to be built (issue 5)."""


class RetailCustomerUploadApi(APIView):
    """POST Batch/RetailCustomer/{retailCustomerId}/UsagePoint: to be built (issue 5)."""
