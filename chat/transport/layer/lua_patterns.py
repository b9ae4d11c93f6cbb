"""Translates ``channel_capacity`` globs to Lua patterns.

``send_group`` works out each member's capacity inside its Lua script, so
that a Group send stays one round trip per shard; the script can only match
Lua patterns, so the layer's fnmatch globs are translated here, once, when
the layer is built. A glob this cannot translate makes ``send_group`` look
capacities up in Python instead, at one more round trip per shard
(docs/channel-layer.md, "Capacities"). tests/test_layer.py checks the
translation against ``fnmatch`` inside Redis, property by property.
"""

import re

# Characters that stand for themselves in a Lua pattern; any other ASCII
# character is escaped with "%", which Lua allows for every non-alphanumeric.
_LUA_PLAIN = re.compile(r"[A-Za-z0-9]")

# One UTF-8 encoded character as a Lua (byte) pattern: a byte that does not
# continue a character, then the bytes (0x80-0xBF) that continue it.
_LUA_ONE_CHARACTER = b"[^\x80-\xbf][\x80-\xbf]*"


def glob_to_lua_pattern(glob):
    """Translate a ``channel_capacity`` glob to an anchored Lua pattern.

    Takes ``glob`` (str), a shell-style pattern as ``fnmatch`` reads it (``*``,
    ``?``, ``[seq]``, ``[!seq]``), and returns bytes: a Lua pattern matching
    the UTF-8 encoding of exactly the names that
    ``re.compile(fnmatch.translate(glob)).match`` matches, which is how
    ``asgiref.base_layer.BaseChannelLayer.compile_capacities`` reads globs.
    The bracket scan follows ``fnmatch.translate`` (Python 3.11). Returns None
    for what the translation does not cover: a bracket set holding a
    non-ASCII character, or a range whose ends are not two ASCII letters or
    digits in order.
    """
    out = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        i += 1
        if char == "*":
            if not out or out[-1] != b".*":
                out.append(b".*")
        elif char == "?":
            out.append(_LUA_ONE_CHARACTER)
        elif char == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(b"%[")
                continue
            translated = _lua_set(glob[i:j])
            if translated is None:
                return None
            out.append(translated)
            i = j + 1
        elif _LUA_PLAIN.match(char) or ord(char) > 127:
            out.append(char.encode("utf8"))
        else:
            out.append(b"%" + char.encode("ascii"))
    return b"^" + b"".join(out) + b"$"


def _lua_set(members):
    """The Lua pattern (bytes) for the fnmatch bracket set whose text between
    the brackets is ``members`` (str), or None if it cannot be translated."""
    negated = members.startswith("!")
    if negated:
        members = members[1:]
    if any(ord(char) > 127 for char in members):
        return None
    parts = []
    k = 0
    while k < len(members):
        if k + 2 < len(members) and members[k + 1] == "-":
            low, high = members[k], members[k + 2]
            if not (_LUA_PLAIN.match(low) and _LUA_PLAIN.match(high) and low <= high):
                return None
            parts.append("%s-%s" % (low, high))
            k += 3
        else:
            char = members[k]
            parts.append(char if _LUA_PLAIN.match(char) else "%" + char)
            k += 1
    if not parts:
        return None
    body = "".join(parts).encode("ascii")
    if negated:
        # One whole character outside the set: its first byte is neither in
        # the (ASCII) set nor a continuation byte.
        return b"[^" + body + b"\x80-\xbf][\x80-\xbf]*"
    return b"[" + body + b"]"
