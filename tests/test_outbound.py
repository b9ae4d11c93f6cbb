"""Requests to chosen URLs (chat/outbound.py): the address rule, the https
rule, the check against DNS answers that change, TLS to a pinned address,
the total deadline, and error texts that reveal nothing. Names are resolved
by a fake ``socket.getaddrinfo``; servers listen on 127.0.0.1, reached only
under the tests' explicit allowance of loopback."""

import datetime
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chat import outbound

# The production rule: https only, public addresses only.
PRODUCTION = {"CHAT_WEBHOOK_ALLOW_HTTP": False, "CHAT_WEBHOOK_ALLOWED_NETWORKS": []}
# The tests' allowance: plain http, and loopback, where their servers are.
LOOPBACK_ALLOWED = {
    "CHAT_WEBHOOK_ALLOW_HTTP": True,
    "CHAT_WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8", "::1/128"],
}
# A public address (example.com's of old); nothing here ever connects to it.
PUBLIC = "93.184.216.34"

real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def production(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)


@pytest.fixture
def loopback_allowed(settings):
    for name, value in LOOPBACK_ALLOWED.items():
        setattr(settings, name, value)


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: set ``answers[name]`` to a list of address lists,
    handed out one per lookup (the last one again once they run out).
    Other names and literal addresses resolve as usual. ``asked`` lists
    the names looked up."""

    class Fake:
        answers = {}
        asked = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in Fake.answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        Fake.asked.append(host)
        queue = Fake.answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port),
            )
            for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return Fake


class Server:
    """An HTTP(S) server on 127.0.0.1 that answers every POST with
    ``status``; records ``(path, headers)`` of each in ``requests``
    (header names lower-cased). With
    ``context`` (an ``ssl.SSLContext``) it speaks TLS; ``server_names``
    records the SNI names clients sent."""

    def __init__(self, status=200, context=None):
        self.requests = []
        self.server_names = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        if context is not None:
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def post(url, deadline_s=5):
    return outbound.post(url, b"{}", {"Content-Type": "application/json"}, deadline_s, 5)


# The address rule


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "ff0e::1",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "2002:7f00:1::1",
        "64:ff9b::a9fe:a9fe",
        "::7f00:1",
    ],
)
def test_an_address_that_is_not_public_is_refused(address):
    assert not outbound.is_public(address)
    assert not outbound.address_allowed(address, networks=[])


@pytest.mark.parametrize(
    "address", ["8.8.8.8", PUBLIC, "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_a_public_address_is_allowed(address):
    assert outbound.is_public(address)
    assert outbound.address_allowed(address, networks=[])


def test_an_operators_network_allows_its_addresses_and_no_others(settings):
    settings.CHAT_WEBHOOK_ALLOWED_NETWORKS = ["10.1.2.0/24"]

    assert outbound.address_allowed("10.1.2.3")
    assert outbound.address_allowed("::ffff:10.1.2.3")
    assert not outbound.address_allowed("10.1.3.1")
    assert not outbound.address_allowed("127.0.0.1")


# The URL rule


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://2130706433/hook",  # 127.0.0.1 spelt as one number
        "https://0x7f.1/hook",
    ],
)
def test_a_url_at_an_inside_address_is_refused(production, url):
    with pytest.raises(outbound.Refused) as refusal:
        outbound.check_url(url)
    assert refusal.value.reason == outbound.REFUSED_ADDRESS
    assert "public" in refusal.value.explanation


def test_a_name_resolving_to_a_private_address_is_refused(production, dns):
    dns.answers["hook.example"] = [["10.0.0.5"]]

    with pytest.raises(outbound.Refused) as refusal:
        outbound.check_url("https://hook.example/hook")

    assert refusal.value.reason == outbound.REFUSED_ADDRESS


def test_one_private_address_among_public_ones_refuses_the_name(production, dns):
    dns.answers["hook.example"] = [[PUBLIC, "127.0.0.1"]]

    with pytest.raises(outbound.Refused):
        outbound.check_url("https://hook.example/hook")


def test_a_name_resolving_to_public_addresses_is_checked_with_them(production, dns):
    dns.answers["hook.example"] = [[PUBLIC, "2606:4700:4700::1111"]]

    target = outbound.check_url("https://user:pw@Hook.example:8443/in?x=1")

    assert target.addresses == (PUBLIC, "2606:4700:4700::1111")
    assert (target.scheme, target.host, target.port) == ("https", "hook.example", 8443)
    assert (target.host_header, target.path, target.auth) == (
        "hook.example:8443",
        "/in?x=1",
        "user:pw",
    )


def test_plain_http_is_refused_by_the_production_rule(production, dns):
    dns.answers["hook.example"] = [[PUBLIC]]

    with pytest.raises(outbound.Refused) as refusal:
        outbound.check_url("http://hook.example/hook")

    assert refusal.value.reason == outbound.REFUSED_SCHEME
    assert "https://" in refusal.value.explanation


def test_plain_http_is_allowed_when_the_setting_says_so(settings, dns):
    settings.CHAT_WEBHOOK_ALLOW_HTTP = True
    dns.answers["hook.example"] = [[PUBLIC]]

    assert outbound.check_url("http://hook.example/hook").port == 80


@pytest.mark.parametrize("url", ["ftp://hook.example/x", "file:///etc/passwd", "https:///x"])
def test_other_schemes_and_hostless_urls_are_refused(settings, url):
    settings.CHAT_WEBHOOK_ALLOW_HTTP = True
    with pytest.raises(outbound.Refused):
        outbound.check_url(url)


def test_a_name_that_does_not_resolve_is_told_apart_at_check_time(production):
    with pytest.raises(outbound.NotResolved):
        outbound.check_url("https://no-such-name.invalid/hook")


# Requests under the rule


def test_a_loopback_server_gets_nothing_under_the_production_rule(production):
    with Server() as server:
        outcome = post("http://127.0.0.1:%d/hook" % server.port)
        https_outcome = post("https://127.0.0.1:%d/hook" % server.port)

    assert outcome == outbound.Outcome(None, outbound.REFUSED_SCHEME, refused=True)
    assert https_outcome == outbound.Outcome(None, outbound.REFUSED_ADDRESS, refused=True)
    assert server.requests == []


def test_the_connection_goes_to_the_checked_address_when_the_name_changes_after(
    production, dns, monkeypatch
):
    # DNS rebinding: the name is public when checked, loopback the next time
    # anyone asks.
    dns.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    dialled = []

    def create_connection(address, *args, **kwargs):
        dialled.append(address)
        raise ConnectionRefusedError("not in a test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)

    outcome = post("https://rebind.example/hook")

    assert dialled == [(PUBLIC, 443)]
    assert dns.asked == ["rebind.example"]
    assert outcome == outbound.Outcome(None, outbound.CONNECTION_FAILED)


def test_a_name_that_turns_private_by_the_next_try_is_refused_then(production, dns, monkeypatch):
    dns.answers["rebind.example"] = [[PUBLIC], ["10.0.0.1"]]
    monkeypatch.setattr(
        urllib3.util.connection,
        "create_connection",
        lambda *a, **k: (_ for _ in ()).throw(ConnectionRefusedError()),
    )

    first = post("https://rebind.example/hook")
    second = post("https://rebind.example/hook")

    assert (first.error, first.refused) == (outbound.CONNECTION_FAILED, False)
    assert (second.error, second.refused) == (outbound.REFUSED_ADDRESS, True)


def test_the_request_carries_the_urls_host_while_going_to_the_checked_address(
    loopback_allowed, dns
):
    with Server(status=204) as server:
        dns.answers["hook.example"] = [["127.0.0.1"], ["10.9.9.9"]]
        outcome = post("http://hook.example:%d/in?x=1" % server.port)

    assert outcome == outbound.Outcome(204, "")
    [(path, headers)] = server.requests
    assert path == "/in?x=1"
    assert headers["host"] == "hook.example:%d" % server.port


def test_credentials_in_the_url_are_sent_as_basic_auth(loopback_allowed):
    with Server() as server:
        post("http://bot:s3cret@127.0.0.1:%d/hook" % server.port)

    [(_, headers)] = server.requests
    assert headers["authorization"] == "Basic Ym90OnMzY3JldA=="


def test_a_redirect_is_not_followed(loopback_allowed):
    with Server(status=302) as server:
        outcome = post("http://127.0.0.1:%d/hook" % server.port)

    assert outcome == outbound.Outcome(302, "HTTP 302")
    assert len(server.requests) == 1


def test_a_closed_port_is_a_connection_failed_and_no_more(loopback_allowed):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    outcome = post("http://127.0.0.1:%d/hook" % port)

    assert outcome == outbound.Outcome(None, outbound.CONNECTION_FAILED)


def test_a_server_that_answers_garbage_is_a_connection_failed_and_no_more(loopback_allowed):
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    outcome = post("http://127.0.0.1:%d/hook" % listener.getsockname()[1])
    listener.close()

    assert outcome == outbound.Outcome(None, outbound.CONNECTION_FAILED)


# TLS to a pinned address


def make_certificate(directory, name):
    """A self-signed certificate for ``name`` and its key, written to
    ``directory`` (Path): returns (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / ("%s.pem" % name), directory / ("%s.key" % name)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """An HTTPS ``Server`` whose certificate is for ``hook.example`` and is
    the only authority trusted."""
    cert_path, key_path = make_certificate(tmp_path, "hook.example")
    monkeypatch.setattr(outbound, "CA_CERTS", str(cert_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    with Server(context=context) as server:
        yield server


def test_https_to_a_pinned_address_sends_the_name_and_checks_the_certificate(
    loopback_allowed, dns, tls_server
):
    dns.answers["hook.example"] = [["127.0.0.1"]]

    outcome = post("https://hook.example:%d/hook" % tls_server.port)

    assert outcome == outbound.Outcome(200, "")
    assert tls_server.server_names == ["hook.example"]
    assert tls_server.requests[0][1]["host"] == "hook.example:%d" % tls_server.port


def test_a_certificate_for_another_name_is_a_tls_failure(loopback_allowed, dns, tls_server):
    dns.answers["other.example"] = [["127.0.0.1"]]

    outcome = post("https://other.example:%d/hook" % tls_server.port)

    assert outcome == outbound.Outcome(None, outbound.TLS_FAILED)
    assert tls_server.requests == []


# The total deadline


@pytest.fixture
def trickler():
    """A server on 127.0.0.1 that reads a request, then sends a status line
    a byte every 0.1 s for up to 30 s: each read is quick, the answer never
    ends. Yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 1000
            for byte in answer[:300]:
                if stop.wait(0.1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_a_server_that_trickles_its_answer_is_cut_off_at_the_deadline(loopback_allowed, trickler):
    started = time.monotonic()
    outcome = post("http://127.0.0.1:%d/hook" % trickler, deadline_s=1.0)
    took = time.monotonic() - started

    assert outcome == outbound.Outcome(None, outbound.TIMED_OUT)
    assert 0.9 <= took < 3.0


def test_the_deadline_watchdog_shuts_a_socket_it_is_given_after_it_passed():
    deadline = outbound.Deadline(0.05)
    first, second = socket.socketpair()
    with first, second:
        time.sleep(0.2)
        assert deadline.expired
        deadline.watch(first)
        assert first.recv(1) == b""  # shut down: reads end at once
    deadline.cancel()
