from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import scope_required
from accounts.errors import ERRORS

from . import services
from .models import WebhookDelivery, WebhookEndpoint
from .url_syntax import WEBHOOK_URL_PATTERN, webhook_url_ascii, webhook_url_problem


@extend_schema_field({"type": "string", "format": "uri", "pattern": WEBHOOK_URL_PATTERN})
class WebhookUrlField(serializers.CharField):
    """An absolute http(s) URL, as the schema states it (url_syntax); a JSON string only,
    untrimmed (a space is refused, not dropped)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=500, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = webhook_url_ascii(super().to_internal_value(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        problem = webhook_url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        if len(value) > self.max_length:  # the ASCII spelling of a host is longer
            self.fail("max_length", max_length=self.max_length)
        return value


class WebhookInput(serializers.Serializer):
    url = WebhookUrlField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.EVENTS), min_length=1
    )


class WebhookOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    consecutive_failures = serializers.IntegerField()
    disabled_at = serializers.DateTimeField(
        allow_null=True, help_text="Set when the endpoint was disabled after failing."
    )


class WebhookCreatedOutput(WebhookOutput):
    secret = serializers.CharField(help_text="Signing secret; shown only in this response.")


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.CharField()
    payload = serializers.JSONField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


def _endpoint_for(request, pk):
    endpoint = WebhookEndpoint.objects.filter(project=request.user.project, pk=pk).first()
    if endpoint is None:
        raise exceptions.NotFound(f"No webhook {pk}.")
    return endpoint


class WebhookListApi(APIView):
    """Endpoints told about golden-set versions, P0s and labels. Signed with HMAC-SHA256."""

    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="webhooks_list", responses={200: WebhookOutput(many=True), **ERRORS}
    )
    def get(self, request):
        endpoints = WebhookEndpoint.objects.filter(project=request.user.project).order_by("pk")
        return Response(WebhookOutput(endpoints, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=WebhookInput,
        responses={201: WebhookCreatedOutput, **ERRORS},
    )
    def post(self, request):
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        refusal = services.webhook_address_refusal(data.validated_data["url"])
        if refusal:
            raise exceptions.ValidationError({"url": [refusal]})
        endpoint, secret = services.webhook_endpoint_create(
            project=request.user.project, **data.validated_data
        )
        return Response({**WebhookOutput(endpoint).data, "secret": secret}, status=201)


class WebhookUpdateInput(serializers.Serializer):
    active = serializers.BooleanField()


class WebhookDetailApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(operation_id="webhooks_read", responses={200: WebhookOutput, **ERRORS})
    def get(self, request, pk):
        return Response(WebhookOutput(_endpoint_for(request, pk)).data)

    @extend_schema(
        operation_id="webhooks_update",
        request=WebhookUpdateInput,
        responses={200: WebhookOutput, **ERRORS},
        description='`{"active": true}` re-enables an endpoint disabled after failing.',
    )
    def patch(self, request, pk):
        endpoint = _endpoint_for(request, pk)
        data = WebhookUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_active_set(
            endpoint=endpoint, active=data.validated_data["active"]
        )
        return Response(WebhookOutput(endpoint).data)

    @extend_schema(operation_id="webhooks_delete", responses={204: None, **ERRORS})
    def delete(self, request, pk):
        services.webhook_endpoint_delete(endpoint=_endpoint_for(request, pk))
        return Response(status=204)


class WebhookDeliveryListApi(APIView):
    permission_classes = [scope_required("admin")]

    @extend_schema(
        operation_id="webhook_deliveries_list",
        responses={200: WebhookDeliveryOutput(many=True), **ERRORS},
    )
    def get(self, request, pk):
        deliveries = _endpoint_for(request, pk).deliveries.order_by("-pk")[:100]
        return Response(WebhookDeliveryOutput(deliveries, many=True).data)
