"""Project, Membership and ApiKey now live in the accounts app (same tables, see
accounts/migrations/0001_initial.py): drop them from this app's state, no row is touched."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("datasets", "0004_webhooks_and_project_moved"),
        ("feedback", "0006_run_attachments"),
        ("triage", "0007_project_in_accounts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='feedbacktokenrevocation',
                    name='api_key',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.apikey'),
                ),
                migrations.RemoveField(
                    model_name='membership',
                    name='project',
                ),
                migrations.RemoveField(
                    model_name='membership',
                    name='user',
                ),
                migrations.AlterField(
                    model_name='feedbackevent',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='feedback', to='accounts.project'),
                ),
                migrations.AlterField(
                    model_name='run',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='accounts.project'),
                ),
                migrations.DeleteModel(
                    name='ApiKey',
                ),
                migrations.DeleteModel(
                    name='Membership',
                ),
                migrations.DeleteModel(
                    name='Project',
                ),
            ],
            database_operations=[],
        ),
    ]
