from django.urls import path

from . import api, health_views, incident_views, incidents_api, rubric_views, views, weekly_views

app_name = "triage"
urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:project_slug>/queue/", views.queue, name="queue"),
    path("p/<slug:project_slug>/queue/claim", views.claim_next, name="claim_next"),
    path("p/<slug:project_slug>/queue/run", views.run_now, name="run_now"),
    path("p/<slug:project_slug>/queue/bulk", views.queue_bulk, name="bulk"),
    path(
        "p/<slug:project_slug>/queue/run/progress",
        views.triage_run_status,
        name="triage_run_status",
    ),
    path("p/<slug:project_slug>/weekly/", weekly_views.weekly, name="weekly"),
    path(
        "p/<slug:project_slug>/weekly/items/<int:pk>/label",
        weekly_views.weekly_label,
        name="weekly_label",
    ),
    path("p/<slug:project_slug>/rubric/", rubric_views.rubric, name="rubric"),
    path(
        "p/<slug:project_slug>/rubric/<slug:key>/archive",
        rubric_views.rubric_archive,
        name="rubric_archive",
    ),
    path("p/<slug:project_slug>/labels.jsonl", rubric_views.labels_export, name="labels_export"),
    path("p/<slug:project_slug>/time-to-eval/", views.time_to_eval, name="time_to_eval"),
    path("p/<slug:project_slug>/incidents/", incident_views.incident_list, name="incidents"),
    path(
        "p/<slug:project_slug>/incidents/new",
        incident_views.incident_create,
        name="incident_create",
    ),
    path(
        "p/<slug:project_slug>/incidents/<int:pk>/",
        incident_views.incident_detail,
        name="incident",
    ),
    path(
        "p/<slug:project_slug>/incidents/<int:pk>/update",
        incident_views.incident_update,
        name="incident_update",
    ),
    path(
        "p/<slug:project_slug>/incidents/<int:pk>/postmortem.md",
        incident_views.incident_postmortem,
        name="incident_postmortem",
    ),
    path("p/<slug:project_slug>/eval-debt/", incident_views.eval_debt_page, name="eval_debt"),
    path("p/<slug:project_slug>/health/", health_views.health, name="health"),
    path(
        "p/<slug:project_slug>/overview/",
        health_views.leadership_overview,
        name="overview",
    ),
    path("p/<slug:project_slug>/items/<int:pk>/", views.item_detail, name="item"),
    path("p/<slug:project_slug>/items/<int:pk>/heartbeat", views.item_heartbeat, name="heartbeat"),
    path("p/<slug:project_slug>/items/<int:pk>/skip", views.item_skip, name="skip"),
    path("p/<slug:project_slug>/items/<int:pk>/claim", views.item_claim, name="claim"),
    path("p/<slug:project_slug>/items/<int:pk>/comments", views.item_comment, name="comment"),
    path(
        "p/<slug:project_slug>/items/<int:pk>/second-review",
        views.item_second_review,
        name="second_review",
    ),
    path("p/<slug:project_slug>/items/<int:pk>/take-over", views.item_take_over, name="take_over"),
    path(
        "p/<slug:project_slug>/items/<int:pk>/pii/<str:token>",
        views.pii_reveal,
        name="pii_reveal",
    ),
    path("p/<slug:project_slug>/items/<int:pk>/label", views.item_label, name="label"),
    path("p/<slug:project_slug>/items/<int:pk>/promote", views.item_promote, name="promote"),
]

api_v1 = [
    path("erasures", api.UserErasureApi.as_view(), name="erasures"),
    path("time-to-eval", api.TimeToEvalApi.as_view(), name="time-to-eval"),
    path("incidents", incidents_api.IncidentListApi.as_view(), name="incidents"),
    path("incidents/<int:pk>", incidents_api.IncidentDetailApi.as_view(), name="incident"),
    path(
        "incidents/<int:pk>/postmortem.md",
        incidents_api.IncidentPostmortemApi.as_view(),
        name="incident-postmortem",
    ),
    path("eval-debt", incidents_api.EvalDebtApi.as_view(), name="eval-debt"),
    path("metrics", api.MetricsApi.as_view(), name="metrics"),
    path(
        "versions-in-production",
        api.VersionsInProductionApi.as_view(),
        name="versions-in-production",
    ),
]
