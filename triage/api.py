"""The triage API: time-to-eval for dashboards and CI, and data-subject erasure."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS

from . import time_to_eval
from .erasure import user_data_erase


class UserErasureInput(serializers.Serializer):
    user_id = serializers.CharField(max_length=256, help_text="The user_id the app sent.")


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
    open_p0_total = serializers.IntegerField()
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
