"""The triage API: time-to-eval for dashboards and CI, production health (metrics,
versions in production), and data-subject erasure."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS
from feedback.serializers import StrictCharField

from . import metrics, time_to_eval
from .erasure import user_data_erase


class UserErasureInput(serializers.Serializer):
    user_id = StrictCharField(max_length=256, help_text="The user_id the app sent.")


class TimeToEvalQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=30)


class TimeToEvalStageOutput(serializers.Serializer):
    stage = serializers.ChoiceField(choices=[s[0] for s in time_to_eval.TIME_TO_EVAL_STAGES])
    label = serializers.CharField()
    cases = serializers.IntegerField()
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    max_hours = serializers.FloatField(allow_null=True)


class OpenP0Output(serializers.Serializer):
    item_id = serializers.IntegerField()
    cluster_id = serializers.IntegerField()
    category = serializers.CharField()
    reports = serializers.IntegerField()
    status = serializers.CharField()
    first_seen_at = serializers.DateTimeField()
    hours_left = serializers.FloatField(help_text="Negative once the P0 SLA is missed.")


class TimeToEvalOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    sla_hours = serializers.FloatField()
    published_cases = serializers.IntegerField()
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    max_hours = serializers.FloatField(allow_null=True)
    p0_cases = serializers.IntegerField()
    p0_within_sla = serializers.IntegerField()
    stages = TimeToEvalStageOutput(many=True)
    open_p0_total = serializers.IntegerField(
        help_text="Exact up to TRIAGE_COUNT_CAP (1000); at the cap when there are more."
    )
    open_p0_total_capped = serializers.BooleanField(
        help_text="True when open_p0_total stopped at the cap (the page shows 1,000+)."
    )
    open_p0 = OpenP0Output(many=True, help_text="The 50 most urgent (oldest first complaint).")


class TimeToEvalApi(APIView):
    """Hours from a cluster's first complaint to the first published version holding its case."""

    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="time_to_eval",
        parameters=[TimeToEvalQuery],
        responses={200: TimeToEvalOutput, **ERRORS},
    )
    def get(self, request):
        query = TimeToEvalQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        report = time_to_eval.time_to_eval_report(
            project=request.user.project,
            since=now - timedelta(days=query.validated_data["days"]),
            now=now,
            sla_hours=settings.TRIAGE_P0_SLA_HOURS,
        )
        return Response(TimeToEvalOutput(report).data)


class UserErasureApi(APIView):
    """A data-subject erasure request: remove what one end user sent (admin scope)."""

    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="user_erasure_create",
        request=UserErasureInput,
        responses={
            200: inline_serializer(
                "UserErasure",
                {
                    "events_deleted": serializers.IntegerField(),
                    "runs_deleted": serializers.IntegerField(),
                    "queue_items_rescrubbed": serializers.IntegerField(),
                },
            ),
            **ERRORS,
        },
        description=(
            "Deletes the user's feedback events (matched by the keyed hash of `user_id`), "
            "the runs of traces only they complained about and their originals in the PII "
            "mappings; affected queue items are re-scrubbed. Published golden-set versions "
            "hold scrubbed text only and are not changed. Idempotent."
        ),
    )
    def post(self, request):
        payload = UserErasureInput(data=request.data)
        payload.is_valid(raise_exception=True)
        result = user_data_erase(
            project=request.user.project, user_id=payload.validated_data["user_id"]
        )
        return Response(result)


class MetricsQuery(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)
    by = serializers.ChoiceField(
        choices=metrics.DIMENSIONS,
        default="all",
        help_text="Slice by this dimension; `all` is one series for all production traffic.",
    )


class RunTypeLatencyOutput(serializers.Serializer):
    runs = serializers.IntegerField()
    p50_ms = serializers.FloatField()
    p95_ms = serializers.FloatField()


class MetricsDayOutput(serializers.Serializer):
    day = serializers.DateField()
    traces = serializers.IntegerField()
    thumbs_down_rate = serializers.FloatField(allow_null=True)
    judged = serializers.IntegerField(help_text="Traces with explicit feedback or a judge score.")
    success_rate = serializers.FloatField(allow_null=True, help_text="Successes / judged.")
    latency_p50_ms = serializers.FloatField(allow_null=True, help_text="End to end (root run).")
    latency_p95_ms = serializers.FloatField(allow_null=True)
    latency_by_run_type = serializers.DictField(
        child=RunTypeLatencyOutput(), help_text="Keys: llm, retriever, tool."
    )
    cost = serializers.FloatField()
    cost_per_trace = serializers.FloatField(allow_null=True)
    cost_per_success = serializers.FloatField(
        allow_null=True, help_text="Cost per trace / success rate."
    )
    tokens_per_trace = serializers.FloatField(allow_null=True)
    tokens_per_success = serializers.FloatField(allow_null=True)
    tool_error_rate = serializers.FloatField(allow_null=True)
    parse_error_rate = serializers.FloatField(allow_null=True)
    empty_response_rate = serializers.FloatField(allow_null=True)
    max_tokens_rate = serializers.FloatField(allow_null=True)
    breaker_rate = serializers.FloatField(allow_null=True)
    tool_calls_per_success = serializers.FloatField(allow_null=True)
    redundant_call_rate = serializers.FloatField(allow_null=True)


class MetricsSeriesOutput(serializers.Serializer):
    value = serializers.CharField(allow_blank=True, help_text='"" = traffic without a value.')
    traces = serializers.IntegerField()
    days = MetricsDayOutput(many=True)


class MetricsOutput(serializers.Serializer):
    days = serializers.IntegerField()
    by = serializers.CharField()
    since = serializers.DateField()
    series = MetricsSeriesOutput(many=True)


class MetricsApi(APIView):
    """Online metrics of production traffic per day and slice, from the periodic rollup."""

    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="metrics",
        parameters=[MetricsQuery],
        responses={200: MetricsOutput, **ERRORS},
    )
    def get(self, request):
        # A plain dict: DRF reads "?by=" from a QueryDict as absent (the default); it is not.
        query = MetricsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        report = metrics.metrics_series(project=request.user.project, **query.validated_data)
        return Response(MetricsOutput(report).data)


class VersionSeenOutput(serializers.Serializer):
    value = serializers.CharField(allow_blank=True)
    traces = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True)
    first_seen_at = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)


class VersionsInProductionOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    traces = serializers.IntegerField()
    prompt_hashes = VersionSeenOutput(many=True)
    model_ids = VersionSeenOutput(many=True)


class VersionsInProductionApi(APIView):
    """Prompt hashes and model ids seen in the last 24 hours: what is live right now."""

    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="versions_in_production",
        responses={200: VersionsInProductionOutput, **ERRORS},
    )
    def get(self, request):
        report = metrics.versions_in_production(project=request.user.project)
        return Response(VersionsInProductionOutput(report).data)
