"""Small helpers that make rows for unit tests."""

import datetime

from django.core.files.base import ContentFile
from django.utils import timezone

from chat.models import Message, Room, Upload


def make_room(label="lobby", name=None):
    """A saved ``Room`` with ``label`` (and ``name``, defaulting to the label)."""
    return Room.objects.create(label=label, name=name or label)


def make_messages(room, count, start=None):
    """``count`` saved messages in an empty ``room``, numbered 1 to ``count``
    and one second apart from ``start`` (default: an hour ago), oldest first,
    noted on the room as its ``last_seq`` and ``last_activity``. Returns
    them as a list."""
    start = start or timezone.now() - datetime.timedelta(hours=1)
    messages = [
        Message.objects.create(
            room=room,
            handle="user%d" % n,
            message="message %d" % n,
            timestamp=start + datetime.timedelta(seconds=n),
            seq=n + 1,
        )
        for n in range(count)
    ]
    if messages:
        # What services.post_message notes on the room with each message.
        Room.objects.filter(pk=room.pk).update(
            last_seq=messages[-1].seq, last_activity=messages[-1].timestamp
        )
        room.refresh_from_db(fields=["last_seq", "last_activity"])
    return messages


def make_upload(
    room, status=Upload.DONE, image_format="PNG", data=b"png", thumbnail=None, **fields
):
    """A saved ``Upload`` to ``room`` in ``status``, its original (the bytes
    ``data``) and, when given, its ``thumbnail`` (bytes) stored in the
    default storage under the names the server makes; ``fields`` are set
    on the row as well (``finished_at``, ``width``…)."""
    upload = Upload(
        room=room,
        handle="ann",
        image_format=image_format,
        size=len(data),
        original_width=1,
        original_height=1,
        status=status,
        **fields,
    )
    upload.original.save("original", ContentFile(data), save=False)
    if thumbnail is not None:
        upload.thumbnail.save("thumbnail." + upload.extension, ContentFile(thumbnail), save=False)
    upload.save()
    return upload
