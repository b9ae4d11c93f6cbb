"""Template filters for the room's messages: ``{% load chat_messages %}``."""

from django import template

from chat.identity import USER

register = template.Library()


@register.filter
def is_mine(message, identity):
    """Whether ``message`` (a ``Message``) is shown as the reader's own to
    ``identity`` (``chat.identity.Identity``): only a signed-in reader has
    messages of their own, those without ``guest`` under their username
    (docs/protocol.md, "Receiving"; ``isMine`` in
    static/chat/room/render.mjs is the page's copy)."""
    return identity.kind == USER and not message.guest and message.handle == identity.handle
