"""Template filters for the room's messages: ``{% load chat_messages %}``."""

import json

from django import template

from chat.identity import GUEST, USER
from chat.protocol import canonical_handle

register = template.Library()


@register.filter
def is_mine(message, identity):
    """Whether ``message`` (a ``Message``) is shown as the reader's own to
    ``identity`` (``chat.identity.Identity``): only a signed-in reader has
    messages of their own, those without ``guest`` under their username
    (docs/protocol.md, "Receiving"; ``isMine`` in
    static/chat/room/render.mjs is the page's copy)."""
    return identity.kind == USER and not message.guest and message.handle == identity.handle


@register.filter
def mentions_me(message, identity):
    """Whether ``message`` (a ``Message``) mentions the reader of
    ``identity`` (``chat.identity.Identity``), for its highlight: a
    signed-in reader it names, or any reader with a name when it says
    ``@here``; never the reader's own message, nor a deleted one
    (``mentionsReader`` in static/chat/room/mentions.mjs is the page's
    copy)."""
    if message.deleted or identity.kind not in (USER, GUEST):
        return False
    if message.handle == identity.handle and message.guest == (identity.kind == GUEST):
        return False
    if message.mentions_here:
        return True
    names = json.loads(message.mentioned_names) if message.mentioned_names else []
    return identity.kind == USER and any(
        canonical_handle(name) == canonical_handle(identity.handle) for name in names
    )
