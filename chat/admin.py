from django.contrib import admin

from chat.models import Message, ReadMark, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("label", "name", "members_only")
    list_filter = ("members_only",)
    search_fields = ("label", "name")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "handle", "message", "timestamp")
    list_filter = ("room",)
    search_fields = ("handle", "message")
    raw_id_fields = ("room",)


@admin.register(ReadMark)
class ReadMarkAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "seq", "updated_at")
    raw_id_fields = ("user", "room")
