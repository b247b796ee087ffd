"""Resource-level ESPI reads (FB_32) under /espi/1_1/resource/: each id is one whole path segment."""

from __future__ import annotations

from django.urls import path

from batch import resource_apis as apis

_UP = "Subscription/<str:subscription_id>/UsagePoint"
_MR = _UP + "/<str:usage_point_id>/MeterReading"
_IB = _MR + "/<str:meter_reading_id>/IntervalBlock"
_EPQS = _UP + "/<str:usage_point_id>/ElectricPowerQualitySummary"

urlpatterns = [
    path(_UP, apis.UsagePointListApi.as_view(), name="espi-usage-point-list"),
    path(_UP + "/<str:usage_point_id>", apis.UsagePointApi.as_view(), name="espi-usage-point"),
    path(_MR, apis.MeterReadingListApi.as_view(), name="espi-meter-reading-list"),
    path(_MR + "/<str:meter_reading_id>", apis.MeterReadingApi.as_view(), name="espi-meter-reading"),
    path(_IB, apis.IntervalBlockListApi.as_view(), name="espi-interval-block-list"),
    path(_IB + "/<str:interval_block_id>", apis.IntervalBlockApi.as_view(), name="espi-interval-block"),
    *(
        route
        for kind in ("UsageSummary", "ElectricPowerUsageSummary")
        for route in (
            path(
                _UP + f"/<str:usage_point_id>/{kind}",
                apis.UsageSummaryListApi.as_view(),
                {"kind": kind},
                name=f"espi-{kind}-list",
            ),
            path(
                _UP + f"/<str:usage_point_id>/{kind}/<str:usage_summary_id>",
                apis.UsageSummaryApi.as_view(),
                {"kind": kind},
                name=f"espi-{kind}",
            ),
        )
    ),
    path(_EPQS, apis.PowerQualitySummaryListApi.as_view(), name="espi-power-quality-summary-list"),
    path(_EPQS + "/<str:quality_summary_id>", apis.PowerQualitySummaryApi.as_view(), name="espi-power-quality-summary"),
    path("ReadingType/<str:reading_type_id>", apis.ReadingTypeApi.as_view(), name="espi-reading-type"),
    path(
        "LocalTimeParameters/<str:local_time_parameters_id>",
        apis.LocalTimeParametersApi.as_view(),
        name="espi-local-time-parameters",
    ),
]
