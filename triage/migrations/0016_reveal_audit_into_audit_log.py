"""Fold the reveal audit (PiiRevealAudit) into the one audit log (accounts.AuditEntry).

Every row is kept: it becomes a `pii.reveal` entry on its queue item, with the same user,
time and placeholder (a placeholder is a name like <PERSON_1>, never the original). The
old rows had no address or user agent, so those stay empty.
"""

from django.db import migrations


def reveals_to_audit_log(apps, schema_editor):
    PiiRevealAudit = apps.get_model("triage", "PiiRevealAudit")
    AuditEntry = apps.get_model("accounts", "AuditEntry")
    rows = PiiRevealAudit.objects.select_related("user", "queue_item").order_by("pk")
    batch = []
    for row in rows.iterator(chunk_size=2000):
        batch.append(
            AuditEntry(
                at=row.revealed_at,
                project_id=row.queue_item.project_id,
                actor=row.user.username,
                actor_user_id=row.user_id,
                action="pii.reveal",
                target_type="queueitem",
                target_id=str(row.queue_item_id),
                details={"placeholder": row.placeholder},
            )
        )
        if len(batch) >= 2000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)


def audit_log_to_reveals(apps, schema_editor):
    PiiRevealAudit = apps.get_model("triage", "PiiRevealAudit")
    AuditEntry = apps.get_model("accounts", "AuditEntry")
    QueueItem = apps.get_model("triage", "QueueItem")
    entries = AuditEntry.objects.filter(action="pii.reveal", actor_user__isnull=False)
    existing = set(QueueItem.objects.values_list("pk", flat=True))
    PiiRevealAudit.objects.bulk_create(
        PiiRevealAudit(
            queue_item_id=int(e.target_id),
            placeholder=e.details.get("placeholder", ""),
            user_id=e.actor_user_id,
            revealed_at=e.at,
        )
        for e in entries.order_by("pk")
        if e.target_id.isdigit() and int(e.target_id) in existing
    )
    entries.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_audit_entry"),
        ("triage", "0015_weekly_decisions"),
    ]

    operations = [
        migrations.RunPython(reveals_to_audit_log, audit_log_to_reveals),
        migrations.DeleteModel(name="PiiRevealAudit"),
    ]
