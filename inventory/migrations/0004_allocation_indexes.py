"""Allocation without reading every reservation: each reservation's address span (packed, so
byte order is address order) with an index, a per-block search hint, and a partial index of
available machines for the machine claim."""

import ipaddress

from django.db import migrations, models

BATCH = 2000


def fill_spans(apps, schema_editor):
    IPReservation = apps.get_model("inventory", "IPReservation")
    quote = schema_editor.quote_name
    update = (
        f"UPDATE {quote(IPReservation._meta.db_table)} SET {quote('first_packed')} = %s, "
        f"{quote('last_packed')} = %s WHERE {quote('id')} = %s"
    )
    rows = IPReservation.objects.values_list("pk", "network").order_by("pk")
    batch = []
    with schema_editor.connection.cursor() as cursor:
        for pk, network in rows.iterator(chunk_size=BATCH):
            net = ipaddress.ip_network(network)
            batch.append((net.network_address.packed, net.broadcast_address.packed, pk))
            if len(batch) == BATCH:
                cursor.executemany(update, batch)
                batch = []
        if batch:
            cursor.executemany(update, batch)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0003_provisioning_networks"),
    ]

    operations = [
        migrations.AddField(
            model_name="ipblock",
            name="next_free",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
        migrations.AddField(
            model_name="ipreservation",
            name="first_packed",
            field=models.BinaryField(default=b"", editable=False, max_length=16),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="ipreservation",
            name="last_packed",
            field=models.BinaryField(default=b"", editable=False, max_length=16),
            preserve_default=False,
        ),
        migrations.RunPython(fill_spans, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="ipreservation",
            index=models.Index(
                fields=["block", "last_packed", "first_packed"], name="ipreservation_span"
            ),
        ),
        migrations.AddIndex(
            model_name="machine",
            index=models.Index(
                condition=models.Q(("state", "available")),
                fields=["plan", "created_at", "id"],
                name="machine_available",
            ),
        ),
    ]
