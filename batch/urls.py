"""ESPI Batch endpoints: one path answers GET (feeds, batch.feeds) and POST (uploads, batch.apis)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from batch import apis, feeds, records_apis, submission_apis


def by_method(**views: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Route one URL to a view per HTTP method; others get 405 with ``Allow``.

    Bearer-token APIs carry no cookies, so CSRF does not apply (DRF views are exempt too).
    """

    @csrf_exempt
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        method = request.method or ""
        # HEAD is answered wherever GET is (RFC 9110 section 9.3.2); the server sends no body.
        handler = views.get("GET" if method == "HEAD" and "HEAD" not in views else method)
        if handler is None:
            return HttpResponseNotAllowed(sorted({*views, "HEAD"} if "GET" in views else views))
        return handler(request, *args, **kwargs)

    return view


urlpatterns = [
    path(
        "Batch/Submission/<str:submission_id>",
        by_method(GET=submission_apis.SubmissionStatusApi.as_view()),
        name="espi-batch-submission",
    ),
    path(
        "Batch/Bulk/<str:bulk_id>",
        by_method(GET=feeds.BulkFeedApi.as_view(), POST=apis.BulkUploadApi.as_view()),
        name="espi-batch-bulk",
    ),
    path(
        "Batch/Subscription/<str:subscription_id>",
        by_method(GET=feeds.SubscriptionFeedApi.as_view(), POST=apis.SubscriptionUploadApi.as_view()),
        name="espi-batch-subscription",
    ),
    path(
        "Batch/RetailCustomer/<str:retail_customer_id>",
        by_method(
            GET=records_apis.RetailCustomerBatchApi.as_view(),
            POST=records_apis.RetailCustomerRecordsUploadApi.as_view(),
        ),
        name="espi-batch-retail-customer-records",
    ),
    path(
        "Batch/BulkRetailCustomerInfo/<str:bulk_id>",
        by_method(GET=records_apis.BulkRetailCustomerInfoApi.as_view()),
        name="espi-batch-bulk-retail-customer-info",
    ),
    path(
        "RetailCustomer/<str:retail_customer_id>/<path:tree>",
        by_method(GET=records_apis.RetailCustomerResourceApi.as_view()),
        name="espi-retail-customer-records",
    ),
    path(
        "Batch/RetailCustomer/<str:retail_customer_id>/UsagePoint",
        by_method(GET=feeds.RetailCustomerFeedApi.as_view(), POST=apis.RetailCustomerUploadApi.as_view()),
        name="espi-batch-retail-customer",
    ),
]
