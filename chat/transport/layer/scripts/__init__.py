"""The layer's Lua scripts, read once, at import, from the ``.lua`` files
beside this module: ``send.lua``, ``resolve.lua`` and ``send_group.lua``.

Each file opens with a comment block giving its KEYS, ARGV and reply, so
the layer's Python and the scripts can be checked against each other in
one place. The text goes to Redis exactly as it stands in the file.
"""

from importlib import resources


def read_script(name):
    """The text (str) of the script file ``name`` (e.g. ``"send.lua"``) in
    this package, read as UTF-8. Raises ``FileNotFoundError`` if the
    installation lacks the file."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


lua_send = read_script("send.lua")
lua_resolve = read_script("resolve.lua")
lua_send_group = read_script("send_group.lua")
