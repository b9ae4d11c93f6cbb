"""Images on the real split: an upload from a page's session reaches every
member as an image message, its job really travels on the ``chat.thumbnail``
channel (workers started ``--exclude-channels=chat.thumbnail`` leave it
pending until a ``thumbs`` process starts), and a ``thumbs`` process killed
with ``kill -9`` in the middle of a job leaves it visibly restarted, never
silently hanging."""

import io
import os
import signal
import time

import psycopg2
import pytest
import requests
from PIL import Image

from bench import split as split_processes
from bench.chat_client import ChatClient, guest_sessions, unique_label
from tests import services
from tests.services import wait_for

pytestmark = pytest.mark.integration


def png(size=(1000, 500), color=(30, 120, 200)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


class Page:
    """What a room page does over HTTP: one browser session (a guest with a
    name), its CSRF cookie from the room page, and uploads with it."""

    def __init__(self, split, split_env, label, name):
        self.split, self.label = split, label
        self.http = requests.Session()
        self.session_key = guest_sessions(split_env, name)[0]
        self.http.cookies.set("sessionid", self.session_key)
        page = self.http.get(split.base_url + "/%s/" % label, timeout=30)
        assert page.status_code == 200
        self.csrf = self.http.cookies["csrftoken"]

    def upload(self, data, name="picture.png", caption=""):
        answer = self.http.post(
            self.split.base_url + "/%s/upload/" % self.label,
            files={"image": (name, data, "image/png")},
            data={"message": caption},
            headers={"X-CSRFToken": self.csrf},
            timeout=60,
        )
        return answer.status_code, answer.json()

    def status(self, state):
        return self.http.get(self.split.base_url + state["status_url"], timeout=30).json()


def upload_row(database_url, upload_id):
    """``(status, attempts, worker)`` of an upload, read from PostgreSQL."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, attempts, worker FROM chat_upload WHERE id = %s", [upload_id]
        )
        return cursor.fetchone()


def receive_image(member, timeout=60):
    """The next image message ``member`` receives (dict)."""
    return member.receive_until(lambda frame: "image" in frame, timeout)[-1]


def check_thumbnail(split, image, size):
    answer = requests.get(split.base_url + image["thumbnail_url"], timeout=30)
    assert answer.status_code == 200
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(answer.content)).size == size
    assert (image["width"], image["height"]) == size


def test_an_upload_from_a_page_reaches_every_member_as_an_image(split, split_env):
    label = unique_label("images")
    page = Page(split, split_env, label, "ann")
    members = [ChatClient(split, label), ChatClient(split, label, session_key=page.session_key)]

    status, state = page.upload(png(), caption="the view from here")

    assert status == 202 and state["status"] == "pending"
    frames = [receive_image(member) for member in members]
    for member in members:
        member.close()
    assert frames[0] == frames[1]
    frame = frames[0]
    assert (frame["handle"], frame["message"], frame["seq"]) == ("ann", "the view from here", 1)
    check_thumbnail(split, frame["image"], (480, 240))
    original = requests.get(split.base_url + frame["image"]["url"], timeout=30)
    assert original.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(original.content)).size == (1000, 500)
    assert wait_for(lambda: page.status(state)["status"] == "done", 30, "done")
    # The catch-up endpoint gives the very same frame.
    caught_up = requests.get(split.base_url + "/%s/messages" % label, timeout=30).json()
    assert caught_up["messages"] == [frame]


def padded_png(size_bytes):
    """A PNG of exactly ``size_bytes`` bytes: a small image, then zeros
    after its end, which decoders ignore."""
    data = png(size=(64, 64))
    return data + b"\0" * (size_bytes - len(data))


def test_files_near_the_size_limit_cross_the_split_and_one_over_it_is_refused(split, split_env):
    label = unique_label("big")
    page = Page(split, split_env, label, "dee")
    limit = 10 * 1024 * 1024  # CHAT_UPLOAD_MAX_BYTES' default

    under_status, under = page.upload(padded_png(limit - 1024), name="under.png")
    over_status, over = page.upload(padded_png(limit + 1), name="over.png")

    assert under_status == 202, under
    assert wait_for(lambda: page.status(under)["status"] == "done", 60, "the job")
    assert (over_status, over["error"]) == (413, "FILE_TOO_LARGE")
    with psycopg2.connect(split_env["DATABASE_URL"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), max(size) FROM chat_upload JOIN chat_room"
                " ON chat_room.id = chat_upload.room_id WHERE chat_room.label = %s",
                [label],
            )
            # Stored without what followed the image's end (chat/images/metadata.py).
            assert cursor.fetchone() == (1, len(png(size=(64, 64))))


def test_thumbnail_jobs_wait_for_a_thumbs_process_and_survive_its_kill_9(
    split_env, postgres_url, redis_prefix, tmp_path
):
    label = unique_label("thumbs")
    media = tmp_path / "media"
    # A layer, a database and media of its own: the session's split takes
    # every channel, and its workers' sweeps would take this split's jobs.
    with services.scratch_database(
        postgres_url, "chat_test_" + redis_prefix.strip(":").replace("-", "_")
    ) as database_url:
        env = dict(
            split_env,
            CHANNEL_LAYER_PREFIX=redis_prefix,
            DATABASE_URL=database_url,
            MEDIA_ROOT=str(media),
        )
        run_thumbnail_jobs(env, label, media)


def run_thumbnail_jobs(env, label, media):
    """The steps of the test above, on a split of ``env``."""
    with split_processes.Split(env) as split:
        split.release()
        split.start_web()
        split.start_worker("--exclude-channels=chat.thumbnail")
        split.wait_ready()
        page = Page(split, env, label, "bea")
        member = ChatClient(split, label)

        # Without a thumbs process the job waits on its channel, while the
        # workers go on serving the room.
        status, first = page.upload(png(), caption="first")
        assert status == 202
        member.send("cal", "after the upload")
        after = member.receive_until(lambda frame: frame.get("message") == "after the upload")
        assert not any("image" in frame for frame in after)
        assert page.status(first)["status"] == "pending"
        assert upload_row(env["DATABASE_URL"], first["id"])[:2] == ("pending", 0)

        # A thumbs process takes it.
        thumbs = split.start_worker(kind="thumbs")
        image = receive_image(member)
        assert (image["message"], image["handle"]) == ("first", "bea")
        check_thumbnail(split, image["image"], (480, 240))
        assert upload_row(env["DATABASE_URL"], first["id"])[:2] == ("done", 1)
        split.kill(thumbs, signal.SIGTERM)

        # A job whose thumbs process dies mid-way. Its original is swapped
        # for a FIFO, so that the job blocks reading it, in the middle of
        # its work, until the process is killed.
        status, second = page.upload(png(color=(200, 80, 10)), caption="second")
        assert status == 202
        original = media / "uploads" / ("%s.png" % second["id"].replace("-", ""))
        data = original.read_bytes()
        original.unlink()
        os.mkfifo(original)
        thumbs = split.start_worker(kind="thumbs")
        row = wait_for(
            lambda: (r := upload_row(env["DATABASE_URL"], second["id"]))[0] == "processing" and r,
            60,
            "the job to start",
        )
        assert row[1] == 1
        split.kill(thumbs, signal.SIGKILL)
        killed_at = time.monotonic()

        # The workers' sweep sees the dead worker's heartbeat expire and
        # starts the job again; the page sees it pending again, not stuck.
        restarted = wait_for(
            lambda: (r := upload_row(env["DATABASE_URL"], second["id"]))[0] == "pending" and r,
            60,
            "the sweep to start the job again",
        )
        # Queued again as it was: its one start counted against the attempts,
        # and the worker that died named as the last to take it.
        assert restarted[1:] == (1, row[2])
        # docs/operations.md, "Image jobs", quotes this figure.
        print(
            "job restarted %.1f s after its thumbs process was killed"
            % (time.monotonic() - killed_at)
        )
        assert page.status(second)["status"] == "pending"
        original.unlink()
        original.write_bytes(data)
        split.start_worker(kind="thumbs")
        image = receive_image(member)
        member.close()
        assert image["message"] == "second"
        assert upload_row(env["DATABASE_URL"], second["id"])[:2] == ("done", 2)
        split.check_alive()
