"""The model ids and prompt hashes in each cluster's feedback: what the queue filters on.

Filtering a million-item queue by model must not probe feedback events for every row: the
facets are a small table indexed by (project, kind, value). They are rebuilt from the events
wherever cluster stats are (triage.clustering.cluster_stats_refresh*: the triage job, the
per-ingest task, drift samples), so they never disagree with the events.
"""

from django.db import connection, transaction

from feedback.models import FeedbackEvent

from .models import ClusterFacet

# Facet kind → the FeedbackEvent column it comes from.
FACET_COLUMNS = {
    ClusterFacet.Kind.MODEL.value: "model_id",
    ClusterFacet.Kind.PROMPT_HASH.value: "prompt_hash",
}


def cluster_facets_refresh(*, cluster_ids):
    """Make each cluster's facets the distinct non-empty values of its events (idempotent)."""
    ids = sorted(set(cluster_ids))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        events = FeedbackEvent.objects.filter(cluster_id__in=chunk).order_by()
        fresh = {}
        for kind, column in FACET_COLUMNS.items():
            rows = events.exclude(**{column: ""}).values_list("cluster_id", column, "project_id")
            for cluster_id, value, project_id in rows.distinct():
                fresh[cluster_id, kind, value] = project_id
        with transaction.atomic():
            have = {
                (cluster_id, kind, value): pk
                for pk, cluster_id, kind, value in ClusterFacet.objects.filter(
                    cluster_id__in=chunk
                ).values_list("pk", "cluster_id", "kind", "value")
            }
            ClusterFacet.objects.filter(
                pk__in=[pk for key, pk in have.items() if key not in fresh]
            ).delete()
            ClusterFacet.objects.bulk_create(
                [
                    ClusterFacet(project_id=project_id, cluster_id=c, kind=k, value=v)
                    for (c, k, v), project_id in fresh.items()
                    if (c, k, v) not in have
                ],
                ignore_conflicts=True,
            )


def cluster_facets_refresh_since(project_id, since):
    """cluster_facets_refresh for every cluster with events after `since`: one statement
    (PostgreSQL; the job's set-based path, next to cluster_stats_refresh_since)."""
    events, facets = FeedbackEvent._meta.db_table, ClusterFacet._meta.db_table
    values = ", ".join(f"('{kind}', e.{column})" for kind, column in FACET_COLUMNS.items())
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH touched AS (
                    SELECT DISTINCT cluster_id FROM {events}
                    WHERE project_id = %s AND id > %s AND cluster_id IS NOT NULL),
                fresh AS (
                    SELECT DISTINCT e.cluster_id, f.kind, f.value
                    FROM {events} e JOIN touched USING (cluster_id)
                    CROSS JOIN LATERAL (VALUES {values}) AS f(kind, value)
                    WHERE f.value <> ''),
                gone AS (
                    DELETE FROM {facets} t USING touched
                    WHERE t.cluster_id = touched.cluster_id AND NOT EXISTS (
                        SELECT FROM fresh WHERE fresh.cluster_id = t.cluster_id
                        AND fresh.kind = t.kind AND fresh.value = t.value))
                INSERT INTO {facets} (project_id, cluster_id, kind, value)
                SELECT %s, cluster_id, kind, value FROM fresh
                ON CONFLICT (cluster_id, kind, value) DO NOTHING""",
            [project_id, since, project_id],
        )
