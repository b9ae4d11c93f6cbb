from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chat import revocation, webhooks
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.exceptions import ClientError
from chat.images import thumbnails
from chat.models import (
    ApiToken,
    Message,
    MessageEdit,
    Reaction,
    ReadMark,
    Room,
    RoomMembership,
    ScheduledMessage,
    Upload,
    WebhookDelivery,
)


class RoomMembershipInline(admin.TabularInline):
    """A room's members and owners (``RoomMembership``), on the room's page."""

    model = RoomMembership
    extra = 1
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    """Rooms, with their members (an inline). A room's outgoing webhook is
    its URL, which the form refuses unless it is https and its host
    resolves to public addresses only (``Room.clean``, chat/outbound.py);
    the signing secret is made when a URL is first saved and shown
    read-only, for the receiver's owner to copy (docs/protocol.md, "Outgoing
    webhooks"); the list's action replaces it.

    Making a room private, taking a member out (deleting the row, or
    changing its user) and deleting a room tell ``chat.revocation`` once
    the change is committed, so that sockets that may no longer read the
    room are closed."""

    list_display = ("label", "name", "private", "webhook_url")
    list_filter = ("private",)
    search_fields = ("label", "name")
    # The secret is shown, not edited: it is made by Room.save().
    exclude = ("webhook_secret",)
    readonly_fields = ("signing_secret",)
    actions = ["new_webhook_secret"]
    inlines = [RoomMembershipInline]

    def save_model(self, request, obj, form, change):
        """Save the room; one that has just been made private is reported to
        ``revocation.room_made_private`` after the commit."""
        super().save_model(request, obj, form, change)
        if change and obj.private and "private" in form.changed_data:
            transaction.on_commit(lambda: revocation.room_made_private(obj))

    def save_formset(self, request, form, formset, change):
        """Save the members; each one taken out, by deleting the row or by
        giving it another user, is reported to ``revocation.member_removed``
        after the commit."""
        removed = []
        if formset.model is RoomMembership:
            for member_form in formset.initial_forms:
                if "user" in member_form.changed_data:
                    removed.append(member_form.initial["user"])
        super().save_formset(request, form, formset, change)
        if formset.model is not RoomMembership:
            return
        removed += [membership.user_id for membership in formset.deleted_objects]
        room = form.instance
        for user in get_user_model().objects.filter(pk__in=removed):
            transaction.on_commit(lambda user=user: revocation.member_removed(room, user))

    def delete_model(self, request, obj):
        """Delete the room; its members are reported to
        ``revocation.member_removed`` after the commit."""
        self._revoke_members_of([obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        """Delete the rooms (the list's delete action), as ``delete_model``."""
        self._revoke_members_of(list(queryset))
        super().delete_queryset(request, queryset)

    def _revoke_members_of(self, rooms):
        for room in rooms:
            # A copy: the deleted row's instance loses its pk.
            gone = Room(pk=room.pk, label=room.label, name=room.name, private=room.private)
            for membership in room.memberships.select_related("user"):
                transaction.on_commit(
                    lambda user=membership.user, gone=gone: revocation.member_removed(gone, user)
                )

    def signing_secret(self, room):
        """The room's webhook secret (str), or a dash when it has none."""
        return room.webhook_secret or "-"

    signing_secret.short_description = "webhook secret (the key of the X-Chat-*Signature headers)"

    def new_webhook_secret(self, request, queryset):
        """Give each selected room with a webhook URL a new secret; deliveries
        are signed with it from then on."""
        count = 0
        for room in queryset.exclude(webhook_url=""):
            room.webhook_secret = ""
            room.save(update_fields=["webhook_secret"])
            count += 1
        self.message_user(request, "Made a new webhook secret for %d room(s)." % count)

    new_webhook_secret.short_description = "Make a new webhook secret"


class RecordInline(admin.TabularInline):
    """An inline of rows the chat writes and people only read: none can be
    added, changed or deleted here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageEditInline(RecordInline):
    """A message's edit history (``MessageEdit``): the text before each
    edit, who made it and when."""

    model = MessageEdit
    fields = ("seq", "edited_at", "editor", "editor_guest", "editor_api_token", "text")


class ReactionInline(RecordInline):
    """A message's reactions."""

    model = Reaction
    fields = ("emoji", "handle", "user", "guest_author", "created_at")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages, with their edit history and reactions as read-only inlines.
    Every field is shown, none edited, and none added here: a message's
    text, handle, room and author change only through the room's stream
    (chat.conversations.changes), which numbers the change, keeps the text
    before and tells the room, so staff cannot make anyone seem to have
    said what they did not.

    Deleting (the page's button or the list's action) leaves a tombstone
    through ``changes.delete``, as staff's moderation on the socket does:
    its text, history, reactions, upload and image files go, the room is
    told, and staff delete only in the rooms they may read
    (``selectors.can_read``); a message they may not delete is left as it
    is and named in an error. Deleting a room still deletes its messages
    outright."""

    list_display = ("room", "handle", "bot", "guest", "message", "timestamp", "deleted_at")
    list_filter = ("room", "bot", "guest")
    search_fields = ("handle", "message")
    raw_id_fields = ("room", "user", "api_token", "upload")
    inlines = [MessageEditInline, ReactionInline]

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def delete_model(self, request, obj):
        """Leave ``obj`` as a tombstone, deleted by the staff member."""
        self._tombstone(request, [obj])

    def delete_queryset(self, request, queryset):
        """Leave each message of ``queryset`` as a tombstone, as ``delete_model``."""
        self._tombstone(request, queryset.select_related("room"))

    def _tombstone(self, request, messages_to_delete):
        moderator = Actor(user=request.user)
        refused = []
        for message in messages_to_delete:
            try:
                changes.delete(message.room, moderator, message.pk)
            except ClientError as error:
                refused.append("%s (%s)" % (message.pk, error.code))
        if refused:
            self.message_user(
                request,
                "Not deleted: message(s) %s. Staff delete messages only in rooms they may "
                "read, and a tombstone cannot be deleted again." % ", ".join(refused),
                messages.ERROR,
            )


@admin.register(ReadMark)
class ReadMarkAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "seq", "updated_at")
    raw_id_fields = ("user", "room")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens of the HTTP API for bots. Adding one shows its secret once, in
    the page's messages; only its hash is kept. Revoke with the list's
    action, or by setting ``revoked_at``."""

    list_display = ("name", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name",)
    readonly_fields = ("created_at", "last_used_at")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        """Save the token; a new one gets its secret here, shown once."""
        secret = None if change else obj.issue()
        super().save_model(request, obj, form, change)
        if secret is not None:
            self.message_user(
                request,
                "The token of %s is %s — copy it now: it is shown only this once."
                % (obj.name, secret),
                messages.WARNING,
            )

    def revoke(self, request, queryset):
        """Revoke the selected tokens that are not revoked yet."""
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, "Revoked %d token(s)." % count)

    revoke.short_description = "Revoke the selected tokens"


class RecordAdmin(admin.ModelAdmin):
    """An admin for rows the chat writes and people only read: nothing can
    be added, and every field is read-only; actions still run."""

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    """Deliveries of messages to their rooms' webhooks (chat/webhooks.py), as
    records: read-only. A FAILED one can be delivered again with the list's
    action, to its room's current URL."""

    list_display = ("message", "url", "status", "attempts", "response_status", "created_at")
    list_filter = ("status",)
    list_select_related = ("message__room", "message__upload")
    search_fields = ("url",)
    raw_id_fields = ("room", "message")
    actions = ["deliver_again"]

    def deliver_again(self, request, queryset):
        """Reset the selected FAILED deliveries to PENDING and send them again."""
        count = webhooks.redeliver(queryset)
        self.message_user(request, "Sent %d failed delivery(ies) again." % count)

    deliver_again.short_description = "Deliver the selected failed deliveries again"


@admin.register(ScheduledMessage)
class ScheduledMessageAdmin(RecordAdmin):
    """Messages sent later (chat/scheduling.py), as records: read-only.
    A ``refused`` one says why in ``reason``; a ``sent`` one links its
    message."""

    list_display = ("id", "room", "handle", "due_at", "status", "reason", "message")
    list_filter = ("status", "reason")
    list_select_related = ("room", "message")
    search_fields = ("handle", "room__label")
    raw_id_fields = ("room", "user", "message")


@admin.register(Upload)
class UploadAdmin(RecordAdmin):
    """Images sent to rooms and their thumbnail jobs (chat/images/thumbnails.py), as
    records: read-only. Failed and stuck jobs can be queued again with the
    list's action, as ``manage.py chatjobs --requeue`` does."""

    list_display = ("id", "room", "handle", "status", "attempts", "created_at", "error")
    list_filter = ("status",)
    list_select_related = ("room",)
    search_fields = ("handle", "room__label")
    actions = ["queue_again"]

    def queue_again(self, request, queryset):
        """Queue the selected failed or stuck jobs again (``thumbnails.retry``)."""
        count = 0
        for upload in queryset.select_related("room"):
            if thumbnails.is_retryable(upload):
                thumbnails.retry(upload)
                count += 1
        self.message_user(request, "Queued %d job(s) again." % count)

    queue_again.short_description = "Queue the selected failed or stuck jobs again"
