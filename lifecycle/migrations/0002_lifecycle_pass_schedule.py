"""The schedule of the lifecycle pass (created once; kept as it is if present). The task itself
sets each next run ``DLM_LIFECYCLE_INTERVAL`` seconds after a pass ends."""

from django.db import migrations

NAME = "dlm-lifecycle-pass"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "lifecycle.tasks.lifecycle_pass_run",
            "schedule_type": "I",  # Schedule.MINUTES: the task sets the next run itself
            "minutes": 1,
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
