"""HTTP requests to URLs that people chose (a room's webhook), kept outside.

A URL chosen in the admin must not become a way into the network the chat
runs in (its Redis, its database, a cloud's metadata service at
169.254.169.254), nor tell its chooser what listens there. So a request
made here:

1. goes only to an ``https`` URL (``http`` too when the setting
   ``CHAT_WEBHOOK_ALLOW_HTTP`` is on: development and tests);
2. resolves the URL's host once and goes ahead only when every address it
   resolves to is public (``is_public``), or lies in one of the operator's
   ``CHAT_WEBHOOK_ALLOWED_NETWORKS``;
3. connects to one of exactly those checked addresses, sending the URL's
   host in the ``Host`` header, in TLS's SNI and as the name the server's
   certificate must hold, so a DNS answer that changes between the check
   and the connection cannot send it elsewhere;
4. never follows a redirect, and ends within a total deadline (connect,
   TLS, sending, and waiting for the status line and headers; the answer's
   body is never read): a watchdog shuts the socket down when it passes,
   so a server that trickles its answer a byte at a time cannot hold the
   caller longer;
5. reports its outcome in a few fixed words (``connection failed``,
   ``timed out``, ``TLS failed``, ``HTTP <status>``, or a refusal), never
   an exception's text, which could say what answered on the inside.

``check_url`` is the rule alone, for validating a URL when it is saved;
``post`` applies it again on every request.
"""

import http.client
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import make_headers, parse_url

from chat import conf

# The reasons a request was refused or failed, as recorded on a delivery
# (``WebhookDelivery.error``). None says more than that it did not work:
# which ports are open, what software answers, or which names exist inside
# are exactly what a URL chosen to probe the inside would want to learn.
REFUSED_SCHEME = "refused: https required"
REFUSED_URL = "refused: not a valid URL"
REFUSED_ADDRESS = "refused: address not allowed"
CONNECTION_FAILED = "connection failed"
TIMED_OUT = "timed out"
TLS_FAILED = "TLS failed"

# The certificate authorities a server's certificate must chain to: the
# Mozilla bundle that certifi ships (requests' own), kept up to date with
# requirements.txt rather than with the host's packages.
CA_CERTS = certifi.where()

# NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4
# address a.b.c.d through a translator, so it is judged by that address.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """A URL the rule does not allow. ``reason`` (str) is one of the
    ``REFUSED_*`` texts, for the record; ``explanation`` (str) is a sentence
    for the staff member who typed the URL."""

    def __init__(self, reason, explanation):
        super().__init__(reason)
        self.reason = reason
        self.explanation = explanation


class NotResolved(Exception):
    """The URL's host name did not resolve (no such name, or DNS failed)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: ``scheme`` ("https" or "http"), ``host`` (the name or
    literal address as written, without brackets), ``port`` (int),
    ``host_header`` (str, the ``Host`` header's value), ``path`` (str, with
    the query), ``auth`` (str ``user:password`` or None) and ``addresses``
    (a tuple of str: every address ``host`` resolved to, all allowed, in
    the resolver's order)."""

    scheme: str
    host: str
    port: int
    host_header: str
    path: str
    auth: object
    addresses: tuple


def allowed_networks():
    """The operator's exceptions to the public-address rule, from the setting
    ``CHAT_WEBHOOK_ALLOWED_NETWORKS`` (a list of CIDR strings, e.g.
    ``["10.1.2.0/24"]``; chat/settings.py checks them at start-up): a list
    of ``ipaddress`` networks."""
    return [
        ipaddress.ip_network(network, strict=False)
        for network in conf.get("CHAT_WEBHOOK_ALLOWED_NETWORKS")
    ]


def is_public(address):
    """Whether ``address`` (str or an ``ipaddress`` address) is one a request
    may go to without an operator's exception: a global unicast address.

    Python's ``is_global`` (IANA's special-purpose registries) is the base;
    on top of it multicast, reserved and unspecified addresses are refused,
    and an IPv6 address that carries an IPv4 one (IPv4-mapped
    ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) is
    judged by the IPv4 address inside, since that is where it leads.
    Raises ``ValueError`` for a string that is not an address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            return is_public(ip.sixtofour)
        if ip in NAT64_PREFIX:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.teredo is not None:
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    )


def address_allowed(address, networks=None):
    """Whether a request may connect to ``address`` (str): a public address
    (``is_public``), or one inside ``networks`` (a list of ``ipaddress``
    networks; ``allowed_networks()`` when None). An IPv4-mapped IPv6
    address counts as its IPv4 address for ``networks`` too."""
    if networks is None:
        networks = allowed_networks()
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if is_public(ip):
        return True
    candidates = [ip]
    if ip.version == 6 and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(
        candidate in network
        for candidate in candidates
        for network in networks
        if candidate.version == network.version
    )


def resolve(host, port):
    """Every address (str) ``host`` (a name or a literal address) resolves
    to for a TCP connection on ``port``, once each, in the resolver's order.
    Raises ``NotResolved`` when there is none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise NotResolved(host) from None
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise NotResolved(host)
    return addresses


def check_url(url):
    """Check ``url`` (str) against the rule, resolving its host now: returns
    its ``Target``. Raises ``Refused`` for a URL that is not ``https``
    (unless ``CHAT_WEBHOOK_ALLOW_HTTP``), not a URL with a host, or whose
    host resolves to any address that is not allowed (``address_allowed``;
    one bad address refuses the URL, so that no resolver order can pick
    it); raises ``NotResolved`` when the host does not resolve."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise Refused(REFUSED_URL, "This is not a URL.") from None
    scheme = (parsed.scheme or "").lower()
    allow_http = conf.get("CHAT_WEBHOOK_ALLOW_HTTP")
    if scheme != "https" and not (allow_http and scheme == "http"):
        raise Refused(
            REFUSED_SCHEME,
            "A webhook URL must start with https:// (plain http:// is allowed only "
            "when the setting CHAT_WEBHOOK_ALLOW_HTTP is on).",
        )
    if not parsed.host:
        raise Refused(REFUSED_URL, "The URL has no host.")
    host = parsed.host.strip("[]")
    port = parsed.port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    networks = allowed_networks()
    if not all(address_allowed(address, networks) for address in addresses):
        raise Refused(
            REFUSED_ADDRESS,
            "The URL's host is, or resolves to, an address that is not on the public "
            "internet (loopback, private, link-local, shared or reserved). Webhooks are "
            "delivered to public addresses only.",
        )
    return Target(
        scheme=scheme,
        host=host,
        port=port,
        host_header=parsed.netloc,
        path=parsed.request_uri,
        auth=parsed.auth,
        addresses=tuple(addresses),
    )


class Deadline:
    """A total deadline for one request: ``seconds`` (float) from its
    creation, after which every socket given to ``watch`` is shut down,
    which ends any read or write blocked on it at once. ``expired`` says
    whether that happened. ``cancel()`` must be called when the request is
    over; it stops the watchdog's timer thread."""

    def __init__(self, seconds):
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self):
        """Seconds (float, at least 0) until the deadline."""
        return max(0.0, self.expires_at - time.monotonic())

    def watch(self, sock):
        """Shut ``sock`` (a socket) down when the deadline passes; at once
        if it has passed already."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def cancel(self):
        """Stop the watchdog; sockets watched are left as they are."""
        self._timer.cancel()

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock):
    # shutdown(), not close(): it wakes a thread blocked in recv() or
    # send() on the socket, and leaves the descriptor to its owner, so it
    # cannot be closed under that thread and reused by another file.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watched(base, deadline):
    """A subclass of the urllib3 connection class ``base`` whose sockets,
    once connected, are watched by ``deadline``."""

    class WatchedConnection(base):
        def _new_conn(self):
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    return WatchedConnection


@dataclass(frozen=True)
class Outcome:
    """How a request ended: ``status`` (int HTTP status, or None when no
    answer came), ``error`` ("" for a 2xx, else one of this module's fixed
    texts or ``"HTTP <status>"``) and ``refused`` (bool: the rule refused
    the URL and nothing was sent)."""

    status: object
    error: str
    refused: bool = False

    @property
    def ok(self):
        """Whether the answer was a 2xx."""
        return self.status is not None and 200 <= self.status < 300


def post(url, body, headers, deadline_s, connect_timeout_s):
    """POST ``body`` (bytes) with ``headers`` (dict of str) to ``url`` (str)
    under the rule (``check_url``, applied now), to an address it checked.
    The whole request (connecting, TLS, sending, the status line and
    headers) ends within ``deadline_s`` seconds (float); each connection
    try also within ``connect_timeout_s``. When connecting to one address
    fails, the next one the host resolved to is tried, within the same
    deadline. The answer's body is not read; redirects are not followed.

    Returns an ``Outcome``; never raises for anything the network or the
    URL does."""
    try:
        target = check_url(url)
    except Refused as refusal:
        return Outcome(None, refusal.reason, refused=True)
    except NotResolved:
        return Outcome(None, CONNECTION_FAILED)
    headers = dict(headers, Host=target.host_header)
    if target.auth:
        headers.update(make_headers(basic_auth=target.auth))
    deadline = Deadline(deadline_s)
    try:
        for address in target.addresses:
            outcome = _post_to(target, address, body, headers, deadline, connect_timeout_s)
            if outcome is not None:
                return outcome
            if deadline.expired or not deadline.remaining():
                return Outcome(None, TIMED_OUT)
        return Outcome(None, CONNECTION_FAILED)
    finally:
        deadline.cancel()


def _post_to(target, address, body, headers, deadline, connect_timeout_s):
    """One try of ``post`` at ``address`` (str): its ``Outcome``, or None
    when no connection could be made there, so the next address may be
    tried."""
    timeout = urllib3.Timeout(
        connect=max(0.001, min(connect_timeout_s, deadline.remaining())),
        read=max(0.001, deadline.remaining()),
    )
    options = {"timeout": timeout, "retries": False, "maxsize": 1, "block": False}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            # The checked address is dialled; the name is what TLS presents
            # (SNI) and what the certificate must be valid for.
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=CA_CERTS,
            **options,
        )
        pool.ConnectionCls = _watched(HTTPSConnection, deadline)
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, **options)
        pool.ConnectionCls = _watched(HTTPConnection, deadline)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            retries=False,
        )
    except (NewConnectionError, ConnectTimeoutError):
        # ConnectTimeoutError is NewConnectionError's parent in urllib3 2;
        # both mean this address took no connection.
        if deadline.expired:
            return Outcome(None, TIMED_OUT)
        return None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
        if deadline.expired or isinstance(error, (ReadTimeoutError, TimeoutError)):
            return Outcome(None, TIMED_OUT)
        if isinstance(error, SSLError):
            return Outcome(None, TLS_FAILED)
        return Outcome(None, CONNECTION_FAILED)
    else:
        # The answer's body is never read: closing drops the connection.
        response.close()
    finally:
        pool.close()
    if 200 <= response.status < 300:
        return Outcome(response.status, "")
    return Outcome(response.status, "HTTP %d" % response.status)
