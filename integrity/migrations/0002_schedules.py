"""The integrity schedules (created once; kept as they are if present): the fixity schedule, the
consistency scans that are due, and the measure of the storages' free space. Each task sets its
own next run from its setting."""

from django.db import migrations

SCHEDULES = {
    "dlm-fixity": "integrity.tasks.fixity_schedule_run",
    "dlm-scans": "integrity.tasks.scans_due_run",
    "dlm-storage-measure": "integrity.tasks.storages_measure_run",
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func in SCHEDULES.items():
        Schedule.objects.get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": 1, "repeats": -1},
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrity", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
