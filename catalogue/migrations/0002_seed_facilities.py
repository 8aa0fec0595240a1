from django.db import migrations

FACILITIES = ["SRC", "STFC", "AWS", "Google", "Pawsey Centre", "external", "local"]


def seed(apps, schema_editor):
    facility = apps.get_model("catalogue", "LocationFacility")
    for name in FACILITIES:
        facility.objects.get_or_create(id=name)


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
