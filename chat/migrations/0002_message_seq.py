from django.db import migrations, models


def number_existing_messages(apps, schema_editor):
    """Give every existing message its place in its room, in id order."""
    Message = apps.get_model("chat", "Message")
    Room = apps.get_model("chat", "Room")
    for room in Room.objects.all():
        for seq, message in enumerate(Message.objects.filter(room=room).order_by("id"), 1):
            Message.objects.filter(pk=message.pk).update(seq=seq)


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="seq",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(number_existing_messages, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                fields=("room", "seq"), name="message_seq_unique_in_room"
            ),
        ),
    ]
