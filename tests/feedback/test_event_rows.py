"""The ingest's one statement on PostgreSQL (feedback/event_rows.py): a statement prepared
once per connection and run through libpq, with psycopg's and Django's errors as before."""

import pytest
from django.db import IntegrityError, connection

from feedback import event_rows
from feedback.models import FeedbackEvent
from feedback.services import feedback_ingest_many

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements and libpq: PostgreSQL"
)

NAME = event_rows._PG_INSERT_NAME.decode()


def _prepared():
    """(statements of that name, times they ran) on this connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0) "
            "FROM pg_prepared_statements WHERE name = %s",
            [NAME],
        )
        return tuple(cursor.fetchone())


def _statuses(project, events):
    return [r.status for r in feedback_ingest_many(project=project, raw_events=events)]


@pytest.mark.django_db
def test_prepared_once_per_connection_and_run_for_each_write(project):
    _, runs_before = _prepared()
    assert _statuses(project, [{"id": "p1", "rating": "down", "comment": "first"}]) == ["created"]
    batch = [{"id": "p2", "score": 0.5}, {"id": "p1", "rating": "up"}]
    assert _statuses(project, batch) == ["created", "conflict"]
    assert _statuses(project, [{"id": "p1", "rating": "down", "comment": "first"}]) == ["duplicate"]
    assert _prepared() == (1, runs_before + 3)  # three writes, one statement
    rows = FeedbackEvent.objects.order_by("client_id").values_list("client_id", "comment", "score")
    assert list(rows) == [("p1", "first", None), ("p2", "", 0.5)]


@pytest.mark.django_db(transaction=True)
def test_a_deallocated_statement_is_prepared_again(project):
    """psycopg sends DEALLOCATE ALL after a rollback when it holds prepared statements of
    its own, and poolers reset sessions with DISCARD ALL: the next post must still land."""
    assert _statuses(project, [{"id": "d1", "rating": "down"}]) == ["created"]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert _prepared()[0] == 0
    assert _statuses(project, [{"id": "d2", "rating": "down"}]) == ["created"]
    assert _prepared()[0] == 1
    assert sorted(FeedbackEvent.objects.values_list("client_id", flat=True)) == ["d1", "d2"]


@pytest.mark.django_db
def test_unprepared_when_prepared_statements_are_off(project):
    """DATABASE_PREPARE=0 (behind PgBouncer without prepared statement support)."""
    pg = connection.connection
    count_before, runs_before = _prepared()
    threshold, pg.prepare_threshold = pg.prepare_threshold, None
    try:
        assert _statuses(project, [{"id": "u1", "rating": "down"}]) == ["created"]
        assert _statuses(project, [{"id": "u1", "rating": "down"}]) == ["duplicate"]
    finally:
        pg.prepare_threshold = threshold
    assert _prepared() == (count_before, runs_before)  # it did not run prepared
    assert list(FeedbackEvent.objects.values_list("client_id", flat=True)) == ["u1"]


@pytest.mark.django_db(transaction=True)
def test_a_refused_insert_raises_djangos_error_and_the_connection_goes_on(project):
    row = {"project_id": project.pk + 1000} | {
        "client_id": "orphan", "body_hash": "0" * 64, "score": None, "metadata": {},
        "created_at": "2026-11-30T00:00:00Z", "received_at": "2026-11-30T00:00:00Z",
    }  # fmt: skip
    row = {name: row.get(name, "") for name in event_rows.INSERT_COLUMNS}
    with pytest.raises(IntegrityError) as caught:
        event_rows.event_rows_insert([row])  # no such project: the foreign key refuses it
    assert "feedback_project" in str(caught.value)
    assert _statuses(project, [{"id": "after", "rating": "down"}]) == ["created"]
    assert list(FeedbackEvent.objects.values_list("client_id", flat=True)) == ["after"]
