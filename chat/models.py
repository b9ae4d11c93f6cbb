import hashlib
import hmac
import secrets

from channels import Group
from django.conf import settings
from django.db import models
from django.utils import timezone

from chat import conf


class Room(models.Model):
    """A chat room, addressed by its ``label`` in URLs and WebSocket paths."""

    name = models.CharField(max_length=200)
    label = models.SlugField(max_length=conf.LABEL_MAX_LENGTH, unique=True)
    # Set in the admin: only signed-in users may read or join the room.
    members_only = models.BooleanField(
        default=False, help_text="Only signed-in users may open the room, read it or join it."
    )

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

    @property
    def presence_group(self):
        """The ``channels.Group`` of the room's sockets that take presence
        and typing frames (docs/protocol.md, "Presence"): those with an
        identity, and those that have sent a typed frame."""
        return Group(self.group_name + "-presence")


class Message(models.Model):
    """One chat message, as stored and as broadcast."""

    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.TextField()
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    # The message's place in its room: 1, 2, 3, … with no gaps, so a client
    # that receives seq n + 2 after n knows it missed one and can catch up.
    seq = models.PositiveIntegerField()
    # Posted through the HTTP API for bots (chat/api.py), not by a person.
    bot = models.BooleanField(default=False, help_text="Posted through the HTTP API by a bot.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_seq_unique_in_room")
        ]

    def __str__(self):
        return "[{timestamp}] {handle}: {message}".format(**self.as_dict())

    def as_dict(self):
        """The one payload shape for a message, as sent to clients.

        Returns ``{"type": "message", "id": int, "seq": int, "timestamp":
        str, "handle": str, "message": str}``, where ``timestamp`` is ISO 8601
        in UTC with a ``Z`` suffix and microseconds, e.g.
        ``"2017-05-01T12:00:00.123456Z"`` (``type`` added 2026-11-30). A
        bot's message also carries ``"bot": True`` (added 2026-11-30); a
        person's has no ``bot`` key, so its shape is what it always was.
        """
        timestamp = self.timestamp.astimezone(timezone.utc).replace(tzinfo=None)
        payload = {
            "type": "message",
            "id": self.pk,
            "seq": self.seq,
            "timestamp": timestamp.isoformat(timespec="microseconds") + "Z",
            "handle": self.handle,
            "message": self.message,
        }
        if self.bot:
            payload["bot"] = True
        return payload


class ReadMark(models.Model):
    """How far a signed-in user has read a room: the ``seq`` (int) of the
    last message they have seen there. The room's unread count for them is
    its last ``seq`` minus this."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    room = models.ForeignKey(Room, related_name="read_marks", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="read_mark_unique_per_user_room")
        ]

    def __str__(self):
        return "%s read %s up to %d" % (self.user, self.room, self.seq)


def hash_api_token(token):
    """The SHA-256 of ``token`` (str) as 64 hex digits (str): what an
    ``ApiToken`` stores in place of its token.

    A fast hash is enough here, unlike for passwords: a token is 32 random
    bytes (256 bits), so no guess or dictionary can find one from its hash,
    however quickly hashes are computed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    """A bearer token of the HTTP API for bots (chat/api.py), by ``name``.

    The token itself is shown once, when made (``issue``), and never
    stored: only its SHA-256 (``hash_api_token``). A revoked token
    (``revoked_at`` set) is refused from then on; it is kept, so its name
    and dates stay on record."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return self.name

    @property
    def is_revoked(self):
        """Whether the token has been revoked (bool)."""
        return self.revoked_at is not None

    def issue(self):
        """Give this (unsaved or saved) token a fresh secret, replacing any
        it had, and return the secret (str, 43 URL-safe characters from 32
        random bytes). Only its hash is kept; the caller saves the row and
        shows the secret once."""
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_api_token(token)
        return token

    @classmethod
    def find_active(cls, token):
        """The unrevoked ``ApiToken`` whose secret is ``token`` (str), or
        None. One query.

        Looked up by the hash, so nothing compares the secret itself byte by
        byte: how long a lookup takes says nothing about the secret, only
        about its hash, which a caller cannot steer. The found hash is
        compared once more in constant time all the same."""
        digest = hash_api_token(token)
        found = cls.objects.filter(token_hash=digest, revoked_at=None).first()
        if found is None or not hmac.compare_digest(found.token_hash, digest):
            return None
        return found
