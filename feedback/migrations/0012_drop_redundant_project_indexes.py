import django.db.models.deletion
from django.db import migrations, models

# Each ingested row and run paid for an index on project_id alone that no query needs: every
# composite index of both tables starts with the project. Only the index is dropped. Django's
# own AlterField would also drop and re-add the foreign key, and re-adding it checks every
# row under a lock that holds ingest up (SQLite: copies the whole table).
INDEXES = {
    "feedback_feedbackevent": "feedback_feedbackevent_project_id_cafd41cf",
    "feedback_run": "feedback_run_project_id_37aa3a39",
}


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_rate_limit_count"),
        ("feedback", "0011_feedback_intent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="feedbackevent",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="feedback",
                        to="accounts.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="accounts.project",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("project_id")',
                )
                for table, index in INDEXES.items()
            ],
        )
    ]
