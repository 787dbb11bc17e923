"""The incidents and eval-debt API (writes: scope `admin`; reads: `datasets:read`)."""

from django.http import HttpResponse
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS, drf_error
from accounts.models import Membership
from datasets.models import Case
from feedback.serializers import StrictCharField, StrictFloatField, StrictIntegerField

from . import eval_debt, incidents
from .models import Cluster, Incident


class IncidentInput(serializers.Serializer):
    title = StrictCharField(max_length=200)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices)
    opened_at = serializers.DateTimeField(required=False)
    impact = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    impact_share = StrictFloatField(required=False, allow_null=True, min_value=0, max_value=1)
    root_cause_layer = serializers.ChoiceField(
        choices=Incident.Layer.choices, required=False, allow_blank=True
    )
    prompt_hash = StrictCharField(required=False, allow_blank=True, max_length=128)
    model_id = StrictCharField(required=False, allow_blank=True, max_length=128)
    customer_tier = StrictCharField(required=False, allow_blank=True, max_length=32)
    index_version = StrictCharField(required=False, allow_blank=True, max_length=128)
    trace_ids = serializers.ListField(
        child=StrictCharField(max_length=128), required=False, max_length=100
    )
    mitigation = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    owners = serializers.ListField(
        child=StrictCharField(max_length=150), required=False, max_length=20
    )
    cluster_ids = serializers.ListField(  # ids are bigints: bounded, not a 500 at the query
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=100,
    )
    case_ids = serializers.ListField(
        child=StrictCharField(max_length=80), required=False, max_length=100
    )


class IncidentUpdateInput(IncidentInput):
    title = StrictCharField(max_length=200, required=False)
    severity = serializers.ChoiceField(choices=Incident.Severity.choices, required=False)
    status = serializers.ChoiceField(
        choices=[Incident.Status.MITIGATED, Incident.Status.CLOSED], required=False
    )
    note = StrictCharField(required=False, allow_blank=True, max_length=10_000)


class TimelineOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    text = serializers.CharField()


class IncidentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    severity = serializers.CharField()
    status = serializers.CharField()
    opened_at = serializers.DateTimeField()
    mitigated_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    impact = serializers.CharField()
    impact_share = serializers.FloatField(allow_null=True)
    root_cause_layer = serializers.CharField()
    prompt_hash = serializers.CharField()
    model_id = serializers.CharField()
    customer_tier = serializers.CharField()
    index_version = serializers.CharField()
    trace_ids = serializers.ListField(child=serializers.CharField())
    mitigation = serializers.CharField()
    owners = serializers.ListField(child=serializers.CharField())
    cluster_ids = serializers.ListField(child=serializers.IntegerField())
    cases = serializers.ListField(child=serializers.DictField())
    timeline = TimelineOutput(many=True)


def incident_view(incident):
    return {
        **{f: getattr(incident, f) for f in IncidentOutput().fields if hasattr(incident, f)},
        "cluster_ids": sorted(incident.clusters.values_list("pk", flat=True)),
        "cases": [
            {"case_id": case_id, "passes_in_holdout": ok}
            for case_id, ok in incidents.incident_proof(incident)
        ],
        "timeline": list(incident.timeline.values("at", "text")),
    }


def _links(project, data):
    """Cluster and case rows named in `data`; unknown ids → 400 naming the field."""
    cluster_ids, case_ids = data.pop("cluster_ids", []), data.pop("case_ids", [])
    clusters = list(Cluster.objects.filter(project=project, pk__in=cluster_ids))
    cases = list(Case.objects.filter(golden_set__project=project, case_id__in=case_ids))
    errors = {}
    unknown = sorted(set(cluster_ids) - {c.pk for c in clusters})
    if unknown:
        errors["cluster_ids"] = [f"Unknown cluster ids: {unknown}."]
    unknown = sorted(set(case_ids) - {c.case_id for c in cases})
    if unknown:
        errors["case_ids"] = [f"Unknown case ids: {unknown}."]
    if errors:
        raise exceptions.ValidationError(errors)
    return clusters, cases


def _owners_check(project, owners):
    known = set(
        Membership.objects.filter(project=project, user__username__in=owners).values_list(
            "user__username", flat=True
        )
    )
    if set(owners) - known:
        unknown = sorted(set(owners) - known)
        raise exceptions.ValidationError(
            {"owners": [f"Unknown owners (not members of this project): {unknown}."]}
        )


def _incident_for(request, pk):
    incident = Incident.objects.filter(project=request.user.project, pk=pk).first()
    if incident is None:
        raise exceptions.NotFound(f"No incident {pk}.")
    return incident


class _ReadOrAdmin(APIView):
    def get_permissions(self):
        scope = "datasets:read" if self.request.method == "GET" else "admin"
        return [scope_required(scope)()]


class IncidentListApi(_ReadOrAdmin):
    @extend_schema(operation_id="incidents_list", responses={200: IncidentOutput(many=True)})
    def get(self, request):
        rows = Incident.objects.filter(project=request.user.project).order_by("-opened_at")[:200]
        return Response(IncidentOutput([incident_view(i) for i in rows], many=True).data)

    @extend_schema(
        operation_id="incidents_create",
        request=IncidentInput,
        responses={201: IncidentOutput, **ERRORS},
    )
    def post(self, request):
        data = IncidentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        clusters, cases = _links(request.user.project, values)
        _owners_check(request.user.project, values.get("owners", []))
        incident = incidents.incident_open(
            project=request.user.project, user=None, clusters=clusters, cases=cases, **values
        )
        return Response(IncidentOutput(incident_view(incident)).data, status=201)


class IncidentDetailApi(_ReadOrAdmin):
    @extend_schema(operation_id="incidents_read", responses={200: IncidentOutput, **ERRORS})
    def get(self, request, pk):
        return Response(IncidentOutput(incident_view(_incident_for(request, pk))).data)

    @extend_schema(
        operation_id="incidents_update",
        request=IncidentUpdateInput,
        responses={
            200: IncidentOutput,
            **ERRORS,
            409: OpenApiResponse(description="eval_not_proven"),
        },
        description=(
            '`{"status": "closed"}` needs every linked case passing in holdout: else 409 '
            "`eval_not_proven` naming the others (and with no linked case at all)."
        ),
    )
    def patch(self, request, pk):
        incident = _incident_for(request, pk)
        data = IncidentUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        clusters, cases = _links(request.user.project, values)
        _owners_check(request.user.project, values.get("owners", []))
        try:
            incident = incidents.incident_update(
                incident=incident, user=None, clusters=clusters, cases=cases, **values
            )
        except incidents.EvalNotProven as exc:
            names = ", ".join(exc.cases) or "none linked"
            return drf_error(
                409,
                "eval_not_proven",
                f"Closing needs every linked case passing in holdout; not yet: {names}.",
                {"cases": exc.cases or ["Link at least one golden case first."]},
            )
        return Response(IncidentOutput(incident_view(incident)).data)


class IncidentPostmortemApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(
        operation_id="incidents_postmortem",
        responses={(200, "text/markdown"): OpenApiTypes.STR, **ERRORS},
    )
    def get(self, request, pk):
        incident = _incident_for(request, pk)
        body = render_to_string("triage/postmortem.md", incidents.postmortem_context(incident))
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="incident-{pk}-postmortem.md"'
        response["X-Content-Type-Options"] = "nosniff"  # text, never sniffed as HTML
        return response


class EvalDebtApi(APIView):
    permission_classes = [scope_required("datasets:read")]

    @extend_schema(operation_id="eval_debt", responses={200: OpenApiTypes.OBJECT, **ERRORS})
    def get(self, request):
        return Response(eval_debt.eval_debt(project=request.user.project))
