"""The client's address behind a router, taken from the hop the router added.

Started with ``--proxy-headers`` (the Procfile's ``web`` line), Daphne 1.4.2
sets an HTTP request's and a WebSocket's ASGI ``client`` (Django's
``REMOTE_ADDR``) from ``X-Forwarded-For``, and takes its **leftmost**
entry (``daphne.utils.parse_x_forwarded_for``). A router such as Heroku's
*appends* the address it was connected from to whatever ``X-Forwarded-For``
the client sent, so the leftmost entry is the client's to choose: any
client could pick a fresh address for each request, and so escape every
per-address limit, or take someone else's and lock them out of signing in.

``parse_forwarded_for`` reads the entry ``CHAT_PROXY_TRUSTED_HOPS`` from the
right instead (1: the one the router in front of Daphne appended; 2 with a
CDN in front of that router, and so on). Every header line of that name
counts, in order, as one list. A request whose header has fewer entries
than that, or whose entry there is not an IP address, keeps the address of
the connection itself. ``X-Forwarded-Port`` and ``X-Forwarded-Proto`` are
read as Daphne reads them.

Without ``--proxy-headers`` Daphne never calls it, and the address is the
connection's. ``install()`` puts it in place; ``asgi.py`` calls it, so it
applies in the process that runs ``daphne asgi:channel_layer``.
"""

import ipaddress

from daphne import http_protocol, utils, ws_protocol
from twisted.web.http_headers import Headers

from chat import conf


def forwarded_entries(headers, name):
    """Every entry of the header ``name`` (str) in ``headers`` (Twisted's
    ``Headers``, or a dict of name to value as autobahn keeps them; names
    and values str or bytes), across all its lines, in order: a list of
    str, stripped."""
    wanted = name.lower().encode("utf-8")
    if isinstance(headers, Headers):
        lines = headers.getRawHeaders(wanted) or []
    else:
        lines = []
        for key, value in headers.items():
            key = key if isinstance(key, bytes) else key.encode("utf-8")
            if key.lower() == wanted:
                lines.extend(value if isinstance(value, list) else [value])
    entries = []
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("latin-1")
        entries.extend(part.strip() for part in line.split(","))
    return entries


def trusted_client(entries, hops):
    """The client's address (str) in ``entries`` (``forwarded_entries``):
    the one ``hops`` (int, at least 1) from the right, which the nearest
    trusted proxy wrote. None when there are fewer entries than ``hops`` or
    that one is not an IPv4 or IPv6 address."""
    if hops < 1 or len(entries) < hops:
        return None
    candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def parse_forwarded_for(
    headers,
    address_header_name="X-Forwarded-For",
    port_header_name="X-Forwarded-Port",
    proto_header_name="X-Forwarded-Proto",
    original_addr=None,
    original_scheme=None,
):
    """Daphne's ``parse_x_forwarded_for`` with the address from the trusted
    hop (``trusted_client``). Returns ``([host, port], scheme)`` as Daphne's
    does; ``original_addr`` (the connection's ``[host, port]``) stands when
    the header gives no trusted address."""
    addr, scheme = utils.parse_x_forwarded_for(
        headers,
        address_header_name,
        port_header_name,
        proto_header_name,
        original_addr,
        original_scheme,
    )
    if not address_header_name or addr is original_addr:
        return addr, scheme
    client = trusted_client(
        forwarded_entries(headers, address_header_name), conf.get("CHAT_PROXY_TRUSTED_HOPS")
    )
    if client is None:
        return original_addr, scheme
    return [client, addr[1]], scheme


def install():
    """Make Daphne's HTTP and WebSocket protocols read the client's address
    with ``parse_forwarded_for``. Both look the function up by name at each
    request, so this may run any time before the first; ``asgi.py`` calls it
    on import."""
    http_protocol.parse_x_forwarded_for = parse_forwarded_for
    ws_protocol.parse_x_forwarded_for = parse_forwarded_for
