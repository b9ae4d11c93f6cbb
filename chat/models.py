import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC

from channels import Group
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone

from chat import conf, formatting, outbound
from chat.protocol import canonical_handle


class Room(models.Model):
    """A chat room, addressed by its ``label`` in URLs and WebSocket paths."""

    # The most characters of a topic.
    TOPIC_MAX_LENGTH = 250

    name = models.CharField(max_length=200)
    label = models.SlugField(max_length=conf.LABEL_MAX_LENGTH, unique=True)
    # One line shown under the room's name; set by those
    # chat.services.may_set_topic allows (added 2026-12-05).
    topic = models.CharField(max_length=TOPIC_MAX_LENGTH, blank=True, default="")
    # Only the room's members (RoomMembership) may open, read or join it;
    # chat.selectors.can_read is the one place that says so.
    private = models.BooleanField(
        default=False,
        help_text="Only the room's members may open the room, read it or join it.",
    )
    # Outgoing webhook (chat/webhooks.py): every new message is POSTed here.
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Every new message is POSTed here as JSON, signed with the secret "
        '(docs/protocol.md, "Outgoing webhooks"). Blank: no webhook.',
    )
    webhook_secret = models.CharField(
        max_length=64,
        blank=True,
        help_text="The HMAC-SHA256 key of the X-Chat-Signature header; made on save "
        "when a webhook URL is set. Clear it to make a new one.",
    )
    # The room's event counter: the seq of its newest event, a message or a
    # change to one (docs/conversations.md), taken and written by the
    # statement that stores the event (chat/services.py,
    # chat/conversations/changes.py). last_activity is the newest message's
    # timestamp, so that the room list pages through the rooms by activity
    # on an index instead of visiting every room's messages. Both null for a
    # room without messages, which the list leaves out.
    last_seq = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_activity = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["-last_activity", "label"],
                name="room_by_activity",
                condition=models.Q(last_activity__isnull=False),
            )
        ]

    def __str__(self):
        return self.label

    # Written only by the statements that store a room's events: a save of
    # a room read earlier (the admin's form) must not put back an older
    # counter, which would number the next event with a seq taken already.
    COUNTER_FIELDS = frozenset({"last_seq", "last_activity"})

    def save(self, *args, **kwargs):
        """Save the room; a room with a ``webhook_url`` and no
        ``webhook_secret`` gets one (64 hex digits, 32 random bytes).

        Saving a room that exists writes every field but ``COUNTER_FIELDS``
        (unless ``update_fields`` names them), whatever this instance holds
        of them."""
        if self.webhook_url and not self.webhook_secret:
            self.webhook_secret = secrets.token_hex(32)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = set(kwargs["update_fields"]) | {"webhook_secret"}
        updating = not self._state.adding and not kwargs.get("force_insert")
        if updating and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.COUNTER_FIELDS
            ]
        super().save(*args, **kwargs)

    # The room's Group names: ``chat.<label>`` and ``chat.<label>.presence``.
    # A label cannot contain ".", which the layer allows in Group names
    # (conf.LABEL_RE), so no label can name another room's Group: with "-",
    # room ``X-presence`` was room ``X``'s presence Group.
    GROUP_NAME = "chat.%s"
    PRESENCE_GROUP_NAME = "chat.%s.presence"

    def clean(self):
        """Validate the room as a whole, for the admin's form: a
        ``webhook_url`` must pass chat/outbound.py's rule now (https, a host
        that resolves to public addresses only). Raises ``ValidationError``
        on ``webhook_url`` saying why not. Every delivery checks it again:
        a name can resolve elsewhere later."""
        super().clean()
        if not self.webhook_url:
            return
        try:
            outbound.check_url(self.webhook_url)
        except outbound.Refused as refusal:
            raise ValidationError({"webhook_url": refusal.explanation}) from None
        except outbound.NotResolved:
            raise ValidationError(
                {"webhook_url": "The URL's host name does not resolve (check its spelling)."}
            ) from None

    @property
    def group_name(self):
        """The name (str) of the channel layer Group every socket in the room
        joins: ``chat.<label>``."""
        return self.GROUP_NAME % self.label

    @property
    def group(self):
        """The room's ``channels.Group``: send to it to reach every member."""
        return Group(self.group_name)

    @property
    def presence_group(self):
        """The ``channels.Group`` of the room's sockets that take presence
        and typing frames (docs/protocol.md, "Presence"): those with an
        identity, and those that have sent a typed frame. Its name is
        ``chat.<label>.presence``."""
        return Group(self.PRESENCE_GROUP_NAME % self.label)


def iso_time(moment):
    """``moment`` (an aware datetime) as the protocol writes times (str):
    ISO 8601 in UTC with microseconds and a ``Z``."""
    return (
        moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")
        + "Z"
    )


def upload_path(upload, filename):
    """Where ``upload``'s original is stored (str, relative to the storage):
    ``uploads/<id>.<ext>``, the extension from the format Pillow found,
    never the sender's file name."""
    return "uploads/%s.%s" % (upload.pk.hex, upload.extension)


def thumbnail_path(upload, filename):
    """Where ``upload``'s thumbnail is stored (str, relative to the storage):
    ``uploads/thumbnails/<id>.<ext>``, with the extension of ``filename``,
    which names the thumbnail's own format."""
    return "uploads/thumbnails/%s.%s" % (upload.pk.hex, filename.rpartition(".")[2])


class Upload(models.Model):
    """An image sent to a room, and the job that makes its thumbnail.

    The upload view (``chat.uploads``) stores the original and sends the job
    to the ``chat.thumbnail`` channel; the job's consumer makes the
    thumbnail, then posts the image's ``Message``. ``status`` follows
    ``PENDING`` → ``PROCESSING`` → ``DONE``, or ``FAILED`` with ``error``; a
    failed or stuck job can be queued again (docs/operations.md, "Image
    jobs").
    """

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    STATUSES = [(s, s) for s in (PENDING, PROCESSING, DONE, FAILED)]

    # The image formats accepted (Pillow's names), and the content type and
    # file extension each is stored and served with.
    FORMATS = {
        "JPEG": ("image/jpeg", "jpg"),
        "PNG": ("image/png", "png"),
        "GIF": ("image/gif", "gif"),
        "WEBP": ("image/webp", "webp"),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, related_name="uploads", on_delete=models.CASCADE)
    handle = models.TextField()
    # The sender, to show them the job's state: a signed-in user, else the
    # HTTP session's key (a guest); knowing the id is enough to read it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # A named guest's author id (``Message.guest_author``), which the image's
    # message is stored with; null for a user or an anonymous sender.
    guest_author = models.UUIDField(null=True, blank=True)
    caption = models.TextField(blank=True)
    image_format = models.CharField(max_length=10, choices=[(f, f) for f in FORMATS])
    original = models.FileField(upload_to=upload_path, max_length=255)
    size = models.PositiveIntegerField(help_text="The original's size in bytes.")
    original_width = models.PositiveIntegerField(help_text="Pixels, as displayed.")
    original_height = models.PositiveIntegerField(help_text="Pixels, as displayed.")
    thumbnail = models.FileField(upload_to=thumbnail_path, max_length=255, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True, help_text="Thumbnail, pixels.")
    height = models.PositiveIntegerField(null=True, blank=True, help_text="Thumbnail, pixels.")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The worker process that took the job last (hostname:pid), whose
    # heartbeat tells whether it still runs.
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When the current try was asked for (the upload, or a retry), and when
    # its job was last sent to the channel.
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return "%s in %s (%s)" % (self.pk, self.room_id, self.status)

    @property
    def content_type(self):
        """The MIME type (str) the original and thumbnail are served as."""
        return self.FORMATS[self.image_format][0]

    @property
    def extension(self):
        """The file extension (str, no dot) of the stored files."""
        return self.FORMATS[self.image_format][1]

    def image_dict(self, private=False):
        """The ``image`` of a message frame: ``{"url": str, "thumbnail_url":
        str, "width": int, "height": int}``, ``width`` and ``height`` the
        thumbnail's, in pixels.

        The URLs are the storage's (``/media/…`` on disk, the bucket's with
        S3), unless ``private`` (bool: the image is in a private room):
        then they are always ``/media/…``, served by the chat, which checks
        that whoever asks may read the room (``chat.images.views.media``)."""
        if private:
            url, thumbnail_url = (
                reverse("media", kwargs={"path": field.name})
                for field in (self.original, self.thumbnail)
            )
        else:
            url, thumbnail_url = self.original.url, self.thumbnail.url
        return {
            "url": url,
            "thumbnail_url": thumbnail_url,
            "width": self.width,
            "height": self.height,
        }


class Message(models.Model):
    """One chat message, as stored and as broadcast.

    A message has its place in its room, ``seq``, which never changes, and
    a ``version``: the ``seq`` of the last event that touched it, its own
    ``seq`` until it is edited, deleted or reacted to (docs/conversations.md).
    A deleted message stays as a tombstone: ``deleted_at`` set, no text, no
    image, no reactions, no edit history."""

    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.TextField()
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    # The message's place in its room's stream of events: 1, 2, 3, … shared
    # with the changes to messages, with no gaps, so a client that receives
    # seq n + 2 after n knows it missed one and can catch up.
    seq = models.PositiveIntegerField()
    # The seq of the last event that touched the message: seq itself until
    # it changes. Set to seq on save when left None.
    version = models.PositiveIntegerField()
    # Posted through the HTTP API for bots (chat/api.py), not by a person.
    bot = models.BooleanField(default=False, help_text="Posted through the HTTP API by a bot.")
    # Sent without a signed-in user (a named guest, or a socket or upload
    # that names its own handle), and not by a bot or an operator. Rows from
    # before 2026-12-04 are all False: who sent them was not recorded.
    guest = models.BooleanField(
        default=False, help_text="Sent by a guest or an anonymous client, not a signed-in user."
    )
    # The author: a signed-in user, a named guest (the random id kept in
    # their HTTP session, chat.identity.guest_author, never the session's
    # key), or the API token of a bot; none for an anonymous socket,
    # chatsay, and every row from before 2026-12-05.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="messages",
        on_delete=models.SET_NULL,
    )
    guest_author = models.UUIDField(
        null=True,
        blank=True,
        help_text="The random id a named guest's session holds; not the session itself.",
    )
    api_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, related_name="messages", on_delete=models.SET_NULL
    )
    # The client's nonce (docs/protocol.md, "Sending"), kept only for a
    # message with a user or guest author: one message per author and nonce
    # in a room. "" for none.
    nonce = models.CharField(max_length=conf.NONCE_MAX_LENGTH, blank=True, default="")
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The image the message shows, posted by its thumbnail job; one message
    # per upload, so a job that runs twice cannot post it twice.
    upload = models.OneToOneField(
        Upload, null=True, blank=True, related_name="message", on_delete=models.SET_NULL
    )
    # Who the text mentions (docs/mentions.md), as the message frame's
    # "mentions" gives them: a JSON list of the usernames named with "@",
    # as they were when the message was stored or last edited; "" for none.
    # Kept on the row so that a frame costs no query; the notifications
    # and counts read the Mention rows.
    mentioned_names = models.TextField(blank=True, default="", editable=False)
    mentions_here = models.BooleanField(
        default=False, editable=False, help_text="The text says @here."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_seq_unique_in_room"),
            # Each event touches one message, so versions are unique too;
            # the catch-up by seq walks this index.
            models.UniqueConstraint(
                fields=["room", "version"], name="message_version_unique_in_room"
            ),
            models.UniqueConstraint(
                fields=["room", "user", "nonce"],
                condition=models.Q(nonce__gt="", user__isnull=False),
                name="message_nonce_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["room", "guest_author", "nonce"],
                condition=models.Q(nonce__gt="", guest_author__isnull=False),
                name="message_nonce_unique_per_guest",
            ),
        ]

    def __str__(self):
        # No text: the admin's log keeps this string for good (its
        # object_repr), and a deleted message's text must not outlive it.
        return "message %s by %s (seq %s)" % (self.pk, self.handle, self.seq)

    def save(self, *args, **kwargs):
        """Save the message; one without a ``version`` gets its ``seq``."""
        if self.version is None:
            self.version = self.seq
        super().save(*args, **kwargs)

    @property
    def deleted(self):
        """Whether the message is a tombstone (bool)."""
        return self.deleted_at is not None

    def as_dict(self):
        """The one payload shape for a message, as sent to clients.

        Returns ``{"type": "message", "id": int, "seq": int, "timestamp":
        str, "handle": str, "message": str}``, where ``timestamp`` is ISO 8601
        in UTC with a ``Z`` suffix and microseconds, e.g.
        ``"2017-05-01T12:00:00.123456Z"`` (``type`` added 2026-11-30). A
        bot's message also carries ``"bot": True`` (added 2026-11-30); a
        person's has no ``bot`` key, so its shape is what it always was.
        A message sent without a signed-in user (``guest``) carries
        ``"guest": True`` (added 2026-12-04), and no ``guest`` key otherwise.
        An image's message carries ``"image"``, its ``image`` (added
        2026-11-30); read ``Message`` rows with ``select_related("upload")``,
        through their room (``room.messages``), to spare queries.

        ``"html"`` (str, added 2026-12-05) is ``message`` formatted for a
        page, safe to insert as HTML (``chat.formatting.render``; ``""``
        for an empty caption); ``message`` stays the text as sent.

        Added 2026-12-05 (docs/conversations.md): ``version`` (int), only
        when it differs from ``seq``; ``edited`` (str, the time of the last
        edit), only on an edited message; ``reactions``, only when there are
        any: ``[{"emoji": str, "count": int, "handles": [str, …]}, …]``,
        each emoji in the order it was first given, its handles in the order
        they gave it (read with ``prefetch_related("reactions")`` to spare
        a query per changed message). A deleted message is a tombstone:
        ``"deleted": True`` and ``"message": ""``, with no ``html``,
        ``edited``, ``image`` or ``reactions``.

        Added 2026-12-05 (docs/mentions.md): ``mentions``, only when the
        text names users with ``@``: their usernames (list of str, in the
        order first named); ``mentions_here`` (True), only when the text
        says ``@here``. A tombstone has neither.
        """
        payload = {
            "type": "message",
            "id": self.pk,
            "seq": self.seq,
            "timestamp": iso_time(self.timestamp),
            "handle": self.handle,
            "message": self.message,
        }
        if self.version is not None and self.version != self.seq:
            payload["version"] = self.version
        if self.bot:
            payload["bot"] = True
        if self.guest:
            payload["guest"] = True
        if self.deleted:
            payload["deleted"] = True
            payload["message"] = ""
            return payload
        if self.edited_at is not None:
            payload["edited"] = iso_time(self.edited_at)
        if self.upload_id is not None:
            payload["image"] = self.image
        payload["html"] = formatting.render(self.message)
        if self.mentioned_names:
            payload["mentions"] = json.loads(self.mentioned_names)
        if self.mentions_here:
            payload["mentions_here"] = True
        reactions = self.reaction_summary()
        if reactions:
            payload["reactions"] = reactions
        return payload

    def reaction_summary(self):
        """The message's reactions as ``as_dict`` gives them (a list, empty
        when there are none). A message that never changed (``version`` is
        its ``seq``) has none, and costs no query: every reaction is an
        event that moves the version."""
        if self.pk is None or self.version is None or self.version == self.seq:
            return []
        handles = {}
        for reaction in sorted(self.reactions.all(), key=lambda reaction: reaction.pk):
            handles.setdefault(reaction.emoji, []).append(reaction.handle)
        return [
            {"emoji": emoji, "count": len(names), "handles": names}
            for emoji, names in handles.items()
        ]

    @property
    def image(self):
        """The image of an image's message (``Upload.image_dict()``, its
        URLs served by the chat alone in a private room), or None."""
        if self.upload_id is None:
            return None
        return self.upload.image_dict(private=self.room.private)


class Mention(models.Model):
    """A user mentioned by a message (docs/mentions.md): named with
    ``@username``, or present in the room when it said ``@here``. Stored
    in the statement that stores the message, or the edit that added the
    mention; an edit that removes the mention, or the message's delete,
    removes the row.

    ``seq`` is the room event that mentioned them: the message's own
    ``seq``, or the edit's. The user's mention count of the room is their
    mentions with a ``seq`` past their ``ReadMark``
    (``chat.selectors.mention_counts``)."""

    message = models.ForeignKey(Message, related_name="mention_rows", on_delete=models.CASCADE)
    room = models.ForeignKey(Room, related_name="mentions", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="mentions", on_delete=models.CASCADE
    )
    seq = models.PositiveIntegerField(help_text="The room event that mentioned the user.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user"], name="mention_unique_per_message_user"
            )
        ]
        indexes = [models.Index(fields=["user", "room", "seq"], name="mention_by_user_room")]

    def __str__(self):
        return "user %s in message %s (seq %s)" % (self.user_id, self.message_id, self.seq)


class MessageEdit(models.Model):
    """One edit of a message, kept so that the room's owners and staff can
    read what it said before (chat.conversations.changes.edit_history):
    the text before the edit, who edited it (its author: a user, a guest's
    id, or a bot's token), when, and the edit's ``seq`` in the room's
    stream. Deleted with the message's text when the message is deleted."""

    message = models.ForeignKey(Message, related_name="edits", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField(help_text="The edit's place in the room's stream.")
    text = models.TextField(help_text="The message's text before this edit.")
    edited_at = models.DateTimeField(default=timezone.now)
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    editor_guest = models.UUIDField(null=True, blank=True)
    editor_api_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return "edit %d of message %s" % (self.seq, self.message_id)


class Reaction(models.Model):
    """One reactor's emoji on a message: a signed-in user's or a named
    guest's (by their id, ``Message.guest_author``), shown as the
    ``handle`` they had. One per reactor and emoji; reacting again with
    the same emoji takes it back."""

    message = models.ForeignKey(Message, related_name="reactions", on_delete=models.CASCADE)
    emoji = models.CharField(max_length=32)
    handle = models.TextField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    guest_author = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "emoji", "user"],
                condition=models.Q(user__isnull=False),
                name="reaction_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["message", "emoji", "guest_author"],
                condition=models.Q(guest_author__isnull=False),
                name="reaction_unique_per_guest",
            ),
        ]

    def __str__(self):
        return "%s by %s on message %s" % (self.emoji, self.handle, self.message_id)


class RoomMembership(models.Model):
    """A user's place in a room: a ``MEMBER`` may read and write a private
    room; an ``OWNER`` also adds and removes its members and makes other
    members owners (``chat.services``). One per (room, user).

    Memberships matter only while the room is ``private``: a public room
    admits everyone (``chat.selectors.can_read``)."""

    MEMBER = "member"
    OWNER = "owner"
    ROLES = [(MEMBER, "member"), (OWNER, "owner")]

    room = models.ForeignKey(Room, related_name="memberships", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="room_memberships", on_delete=models.CASCADE
    )
    role = models.CharField(max_length=10, choices=ROLES, default=MEMBER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique_per_room_user")
        ]

    def __str__(self):
        return "%s, %s of %s" % (self.user, self.role, self.room)

    @property
    def is_owner(self):
        """Whether this member owns the room (bool)."""
        return self.role == self.OWNER


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


class RegisteredHandle(models.Model):
    """A user's username in its canonical form (``canonical_handle``), so
    that "is this handle a registered user's?" is one indexed lookup.

    Kept up to date whenever a user is saved with its username
    (``post_save``); a queryset ``update()`` of usernames skips signals and
    must be followed by saving each user. Not unique: accounts made before
    2026-12-04 (or by staff in the admin) may already share a canonical
    form, and each still owns it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        related_name="registered_handle",
        on_delete=models.CASCADE,
    )
    canonical = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["canonical"], name="registered_handle_canonical")]

    def __str__(self):
        return self.canonical

    @classmethod
    def is_registered(cls, handle):
        """Whether ``handle`` (str) reads as a registered user's username
        (bool): one query. Raises ``django.db.Error`` when the database
        cannot be reached."""
        return cls.objects.filter(canonical=canonical_handle(handle)).exists()


def _keep_registered_handle(sender, instance, update_fields=None, **kwargs):
    # Sign-in saves last_login alone: no username change, no query spent.
    if update_fields is not None and instance.USERNAME_FIELD not in update_fields:
        return
    RegisteredHandle.objects.update_or_create(
        user=instance, defaults={"canonical": canonical_handle(instance.get_username())}
    )


post_save.connect(
    _keep_registered_handle,
    sender=settings.AUTH_USER_MODEL,
    dispatch_uid="chat-registered-handle",
)


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


class WebhookDelivery(models.Model):
    """One event's delivery to its room's webhook (chat/webhooks.py): a new
    message, or (since 2026-12-05) an edit or a delete of one, its
    ``event``. ``PENDING`` until the endpoint answers 2xx
    (``DELIVERED``), or until the attempts run out (``FAILED``, with the
    last ``error``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATUSES = [(s, s) for s in (PENDING, DELIVERED, FAILED)]

    # The events delivered (the body's "event", docs/protocol.md).
    MESSAGE = "message"
    EDIT = "edit"
    DELETE = "delete"
    EVENTS = [(e, e) for e in (MESSAGE, EDIT, DELETE)]

    room = models.ForeignKey(Room, related_name="webhook_deliveries", on_delete=models.CASCADE)
    message = models.ForeignKey(
        Message, related_name="webhook_deliveries", on_delete=models.CASCADE
    )
    event = models.CharField(max_length=10, choices=EVENTS, default=MESSAGE)
    url = models.URLField(max_length=500)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return "message %s to %s (%s)" % (self.message_id, self.url, self.status)


class ScheduledMessage(models.Model):
    """A message its author asked to be posted later (chat/scheduling.py;
    docs/protocol.md, "Messages sent later"). ``PENDING`` until its
    ``due_at``; then ``SENT`` (``message`` is the posted ``Message``),
    or ``REFUSED`` with a ``reason`` when its author may no longer post
    there. The author may make it ``CANCELLED`` while it is pending.
    Each change of status is one ``UPDATE … WHERE status = 'pending'``,
    so a row leaves ``PENDING`` exactly once.

    The author is a signed-in ``user`` or a named guest (``guest_author``,
    as ``Message.guest_author``), never both; ``handle`` is the name the
    guest had when scheduling (a user's message carries their username at
    the time it is posted)."""

    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"
    REFUSED = "refused"
    STATUSES = [(s, s) for s in (PENDING, SENT, CANCELLED, REFUSED)]

    room = models.ForeignKey(Room, related_name="scheduled_messages", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        related_name="scheduled_messages",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
    )
    guest_author = models.UUIDField(null=True, blank=True)
    handle = models.CharField(max_length=255)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    # Why a REFUSED one was not posted: a stable code (chat/scheduling.py).
    reason = models.CharField(max_length=32, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.OneToOneField(
        Message,
        related_name="scheduled",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )

    class Meta:
        indexes = [
            # The sweeper's question: which pending ones are overdue.
            models.Index(
                fields=["due_at"],
                name="scheduled_pending_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["user", "status"], name="scheduled_by_user"),
            models.Index(fields=["guest_author", "status"], name="scheduled_by_guest"),
        ]

    def __str__(self):
        return "%s in %s at %s (%s)" % (self.handle, self.room_id, self.due_at, self.status)

    def as_dict(self):
        """The author's view of it, in a ``scheduled`` frame:
        ``{"id": int, "message": str, "at": ISO-8601 UTC str}``."""
        return {
            "id": self.pk,
            "message": self.text,
            "at": self.due_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
