"""The chat's read queries, beside its writes in ``chat/services.py``."""

from chat import conf
from chat.models import Room


def find_room(label):
    """The ``Room`` labelled ``label`` (str), or None when there is none or
    the label may not name a room. Never creates one."""
    if not conf.is_valid_label(label):
        return None
    return Room.objects.filter(label=label).first()


def rooms():
    """Every room, by label (a ``QuerySet`` of ``Room``)."""
    return Room.objects.order_by("label")


def messages_after(room, after_id, limit):
    """Up to ``limit`` (int) messages of ``room`` with an id above
    ``after_id`` (int), oldest first, as a list of ``Message``."""
    return list(room.messages.filter(id__gt=after_id).order_by("seq")[:limit])


def messages_before(room, before_id, limit):
    """The last ``limit`` (int) messages of ``room`` with an id below
    ``before_id`` (int, or None for no bound), oldest first, as a list of
    ``Message``."""
    messages = room.messages.all()
    if before_id is not None:
        messages = messages.filter(id__lt=before_id)
    return list(reversed(messages.order_by("-seq")[:limit]))
