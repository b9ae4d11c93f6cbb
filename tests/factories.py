"""Small helpers that make rows for unit tests."""

import datetime

from django.utils import timezone

from chat.models import Message, Room


def make_room(label="lobby", name=None):
    """A saved ``Room`` with ``label`` (and ``name``, defaulting to the label)."""
    return Room.objects.create(label=label, name=name or label)


def make_messages(room, count, start=None):
    """``count`` saved messages in an empty ``room``, numbered 1 to ``count``
    and one second apart from ``start`` (default: an hour ago), oldest first.
    Returns them as a list."""
    start = start or timezone.now() - datetime.timedelta(hours=1)
    return [
        Message.objects.create(
            room=room,
            handle="user%d" % n,
            message="message %d" % n,
            timestamp=start + datetime.timedelta(seconds=n),
            seq=n + 1,
        )
        for n in range(count)
    ]
