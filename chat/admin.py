from django.contrib import admin, messages
from django.utils import timezone

from chat.models import ApiToken, Message, ReadMark, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("label", "name", "members_only")
    list_filter = ("members_only",)
    search_fields = ("label", "name")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "handle", "bot", "message", "timestamp")
    list_filter = ("room", "bot")
    search_fields = ("handle", "message")
    raw_id_fields = ("room",)


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
