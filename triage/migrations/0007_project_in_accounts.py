"""Project moved to the accounts app (same table): repoint the foreign keys, state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("triage", "0006_cluster_facets"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='cluster',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='clusters', to='accounts.project'),
                ),
                migrations.AlterField(
                    model_name='clusterfacet',
                    name='project',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.project'),
                ),
                migrations.AlterField(
                    model_name='clusterfingerprint',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.project'),
                ),
                migrations.AlterField(
                    model_name='failuremode',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='failure_modes', to='accounts.project'),
                ),
                migrations.AlterField(
                    model_name='queueitem',
                    name='project',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='queue_items', to='accounts.project'),
                ),
                migrations.AlterField(
                    model_name='triagerun',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='triage_runs', to='accounts.project'),
                ),
            ],
            database_operations=[],
        ),
    ]
