"""The HTTP view of messages that change: a message's edit history, for
the room's owners and staff (docs/protocol.md, "Changing messages")."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from chat import selectors
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.exceptions import json_client_errors
from chat.identity import guest_author
from chat.models import iso_time


@require_GET
@json_client_errors
def history(request, label, message_id):
    """``GET /<label>/messages/<id>/history``: the edit history of the
    room's message ``id``, for its owners and staff
    (``chat.conversations.rules``, ``READ_HISTORY``).

    Returns ``{"message": Message.as_dict(), "edits": [{"seq": int,
    "edited_at": str, "editor": str, "message": str}, …]}``: each edit,
    oldest first, with its place in the room's stream, when it was made
    (ISO 8601, UTC), who made it (the username, the bot token's name, or
    the guest's handle on the message) and the text it replaced.

    Refusals, ``{"type": "error", "error", "detail"}``: 404 ``NOT_FOUND``
    for a room that does not exist or that the request may not read
    (``selectors.can_read``), 404 ``MESSAGE_NOT_FOUND`` for a message that
    is not the room's or is deleted, 403 ``NOT_ALLOWED`` for a reader who
    is neither an owner of the room nor staff; 405 for another method."""
    room = selectors.readable_room(request.user, label)
    actor = Actor.of_request(request.user, guest_author(request.session))
    message, edits = changes.edit_history(room, actor, message_id)
    return JsonResponse(
        {
            "message": message.as_dict(),
            "edits": [
                {
                    "seq": edit.seq,
                    "edited_at": iso_time(edit.edited_at),
                    "editor": _editor_name(edit, message),
                    "message": edit.text,
                }
                for edit in edits
            ],
        }
    )


def _editor_name(edit, message):
    """Who made ``edit`` (a ``MessageEdit``) of ``message``, as shown
    (str): their username, their bot token's name, or, for a guest, the
    handle on the message."""
    if edit.editor is not None:
        return edit.editor.get_username()
    if edit.editor_api_token is not None:
        return edit.editor_api_token.name
    return message.handle
