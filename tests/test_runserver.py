"""``manage.py runserver`` as a developer runs it: one line per log record."""

import os
import subprocess
import sys
import urllib.error
import urllib.request

from bench.services import free_port
from bench.split import PROJECT_DIR
from tests.services import wait_for

# The access-log line of the one request that is answered 404.
ACCESS_LINE = "HTTP GET /no/such/page/ 404 ["


def test_runserver_prints_each_daphne_and_request_record_once_in_one_format(tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="chat.settings",
        DATABASE_URL="sqlite:///%s" % (tmp_path / "db.sqlite3"),
        PYTHONUNBUFFERED="1",
    )
    for name in ("REDIS_URL", "DEBUG", "SECRET_KEY"):
        env.pop(name, None)
    log_path = tmp_path / "runserver.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "127.0.0.1:%d" % port],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def not_found_logged():
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/no/such/page/" % port, timeout=2)
            except urllib.error.HTTPError as error:
                assert error.code == 404
            return "Not Found: /no/such/page/" in log_path.read_text()

        wait_for(not_found_logged, 30, "runserver answering")
        # The access-log line follows the record it is checked against.
        wait_for(lambda: ACCESS_LINE in log_path.read_text(), 30, "the request's access-log line")
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = log_path.read_text().splitlines()

    def count(text):
        return sum(1 for line in lines if text in line)

    assert count("Listening on endpoint") == 1, lines
    assert count("INFO daphne.server: Listening on endpoint") == 1, lines
    assert count("Not Found: /no/such/page/") == 1, lines
    # Daphne's access log: "[2026/12/05 07:39:28] HTTP GET /no/such/page/ 404 [0.04, …]".
    assert count(ACCESS_LINE) == 1, lines
    # channels' own format, "<time> - INFO - server - …", is not used.
    assert not [line for line in lines if " - INFO - " in line], lines


def test_runserver_posts_a_message_sent_later_from_its_own_delay_thread(tmp_path):
    import datetime
    import types

    from bench.chat_client import ChatClient, guest_sessions
    from bench.split import manage

    port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="chat.settings",
        DATABASE_URL="sqlite:///%s" % (tmp_path / "db.sqlite3"),
        PYTHONUNBUFFERED="1",
    )
    for name in ("REDIS_URL", "DEBUG", "SECRET_KEY"):
        env.pop(name, None)
    manage(env, "migrate", "--noinput", "-v0")
    (session_key,) = guest_sessions(env, "gus")
    log_path = tmp_path / "runserver.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "127.0.0.1:%d" % port],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Listening on asgi.delay" in log_path.read_text(), 30, "the delay loop")
        wait_for(lambda: "Listening on endpoint" in log_path.read_text(), 30, "Daphne")
        site = types.SimpleNamespace(
            base_url="http://127.0.0.1:%d" % port,
            ws_url=lambda path: "ws://127.0.0.1:%d%s" % (port, path),
        )
        client = ChatClient(site, "lobby", session_key=session_key)
        # Far enough ahead that a busy machine's first request is not late.
        at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=10)
        client.send_frame(
            type="schedule", message="from runserver", at=at.isoformat().replace("+00:00", "Z")
        )
        answer = client.receive_until(lambda f: f.get("type") in ("scheduled", "error"))[-1]
        assert answer["type"] == "scheduled", answer
        heard = client.receive_until(lambda f: f.get("message") == "from runserver", timeout=90)
        assert heard[-1]["handle"] == "gus"
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
