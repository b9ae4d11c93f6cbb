from channels import Group
from django.db import models
from django.utils import timezone

from chat import conf


class Room(models.Model):
    """A chat room, addressed by its ``label`` in URLs and WebSocket paths."""

    name = models.CharField(max_length=200)
    label = models.SlugField(max_length=conf.LABEL_MAX_LENGTH, unique=True)

    def __str__(self):
        return self.label

    @property
    def group_name(self):
        """The name (str) of the channel layer Group every socket in the room joins."""
        return "chat-%s" % self.label

    @property
    def group(self):
        """The room's ``channels.Group``: send to it to reach every member."""
        return Group(self.group_name)

    def recent_messages(self, limit=None):
        """Return the room's last ``limit`` messages (default
        ``CHAT_HISTORY_LENGTH``) as a list, oldest first."""
        limit = conf.get("CHAT_HISTORY_LENGTH") if limit is None else limit
        newest_first = self.messages.order_by("-timestamp", "-id")[:limit]
        return list(reversed(newest_first))


class Message(models.Model):
    """One chat message, as stored and as broadcast."""

    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.TextField()
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return "[{timestamp}] {handle}: {message}".format(**self.as_dict())

    def as_dict(self):
        """The one payload shape for a message, as sent to clients.

        Returns ``{"id": int, "timestamp": str, "handle": str, "message": str}``,
        where ``timestamp`` is ISO 8601 in UTC with a ``Z`` suffix and
        microseconds, e.g. ``"2017-05-01T12:00:00.123456Z"``.
        """
        timestamp = self.timestamp.astimezone(timezone.utc).replace(tzinfo=None)
        return {
            "id": self.pk,
            "timestamp": timestamp.isoformat(timespec="microseconds") + "Z",
            "handle": self.handle,
            "message": self.message,
        }
