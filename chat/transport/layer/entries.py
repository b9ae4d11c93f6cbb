"""The entries of the channel lists: the body inline, or (earlier formats)
a pointer to it.

Since 2026-12-05 every entry this layer writes carries its message:

    ~<expires at>|<channel>|<body>

``expires at`` is when the message expires, in whole milliseconds since
the epoch (the sender's clock plus the layer's ``expiry``); ``channel`` is
the full channel name for a process-local message or a Group member, and
empty for a message to the list's own channel; ``body`` is the serialised
message, to the end of the entry. One ``RPUSH`` sends it and one ``LMPOP``
or ``BLMPOP`` receives it, with nothing to fetch or delete afterwards.

Before, an entry was a pointer: a body key (the stock asgi_redis layer's
``send``, and this layer's until then), or ``<body key>|<channel>`` (this
layer's ``send_group``, a shared body with a reference count). A receiver
still resolves those (resolve.lua), so messages the stock layer, or an
earlier release, left in Redis are delivered, at one more round trip each
batch. docs/channel-layer.md, "Entry formats", has the details.
"""

# Starts an inline entry. ChatChannelLayer.__init__ refuses a prefix that
# starts with it, so no pointer entry (prefix + 32 hex digits) can.
INLINE_MARK = "~"
# Separates the fields of an entry. It can occur in no channel name
# (asgiref's channel_name_regex) nor, as ChatChannelLayer.__init__ enforces,
# in the key prefix; the scripts spell it out as '|'.
ENTRY_SEPARATOR = "|"

_MARK = INLINE_MARK.encode("ascii")
_SEPARATOR = ENTRY_SEPARATOR.encode("ascii")


def inline_entry(expires_at, channel, body):
    """The entry (bytes) that carries ``body`` (bytes, the serialised
    message) for ``channel`` (str; "" for the list's own channel) until
    ``expires_at`` (int, ms since the epoch)."""
    return b"%s%d%s%s%s%s" % (
        _MARK,
        expires_at,
        _SEPARATOR,
        channel.encode("utf8"),
        _SEPARATOR,
        body,
    )


def parse_entry(entry):
    """Split an inline ``entry`` (bytes) into ``(expires_at, channel,
    body)``: int ms since the epoch, str ("" for the list's own channel),
    bytes. Returns None for a pointer entry (an earlier format). Raises
    ``ValueError`` for an entry that starts as an inline one but is not."""
    if not entry.startswith(_MARK):
        return None
    first = entry.index(_SEPARATOR)
    second = entry.index(_SEPARATOR, first + 1)
    return int(entry[1:first]), entry[first + 1 : second].decode("utf8"), entry[second + 1 :]
