import django.db.models.deletion
from django.db import migrations, models

# Each ingested row and run paid for an index on project_id alone that no query needs: every
# composite index of both tables starts with the project. Only the index is dropped. Django's
# own AlterField would also drop and re-add the foreign key, and re-adding it checks every
# row under a lock that holds ingest up (SQLite: copies the whole table).
# (model, related_name, table, index)
PROJECT_FKS = [
    ("feedbackevent", "feedback", "feedback_feedbackevent", "feedback_feedbackevent_project_id_cafd41cf"),
    ("run", "runs", "feedback_run", "feedback_run_project_id_37aa3a39"),
]  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_rate_limit_count"),
        ("feedback", "0011_feedback_intent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name=related_name,
                        to="accounts.project",
                    ),
                )
                for model, related_name, _, _ in PROJECT_FKS
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("project_id")',
                )
                for _, _, table, index in PROJECT_FKS
            ],
        )
    ]
