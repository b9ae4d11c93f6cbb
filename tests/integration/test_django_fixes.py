"""Django's security fixes on the real split: the workers that run the views
have them (``chat/transport/django_fixes.py``, installed by
``ChatConfig.ready`` in every process; docs/security.md)."""

import base64

import psycopg2
import pytest

from bench.chat_client import unique_label
from tests.integration.test_images import Page, png
from tests.test_django_fixes import BOUNDARY, file_part, multipart

pytestmark = pytest.mark.integration


def uploads_in(database_url, label):
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM chat_upload JOIN chat_room"
            " ON chat_room.id = chat_upload.room_id WHERE chat_room.label = %s",
            [label],
        )
        return cursor.fetchone()[0]


def test_an_upload_with_more_files_than_the_limit_is_refused_by_the_workers(split, split_env):
    label = unique_label("files")
    page = Page(split, split_env, label, "ann")
    image = png(size=(40, 20))

    one = page.http.post(
        split.base_url + "/%s/upload/" % label,
        files=[("image", ("a.png", image, "image/png"))],
        headers={"X-CSRFToken": page.csrf},
        timeout=60,
    )
    eleven = page.http.post(
        split.base_url + "/%s/upload/" % label,
        files=[("image", ("a%d.png" % n, image, "image/png")) for n in range(11)],
        headers={"X-CSRFToken": page.csrf},
        timeout=60,
    )

    assert one.status_code == 202
    assert eleven.status_code == 400
    assert uploads_in(split_env["DATABASE_URL"], label) == 1


def test_a_base64_encoded_upload_is_refused_by_the_workers(split, split_env):
    label = unique_label("base64")
    page = Page(split, split_env, label, "ann")
    headers, _ = file_part(extra="\r\nContent-Transfer-Encoding: base64")
    body = multipart((headers, base64.b64encode(png(size=(40, 20)))))

    answer = page.http.post(
        split.base_url + "/%s/upload/" % label,
        data=body,
        headers={
            "X-CSRFToken": page.csrf,
            "Content-Type": "multipart/form-data; boundary=%s" % BOUNDARY,
        },
        timeout=60,
    )

    assert answer.status_code == 400
    assert uploads_in(split_env["DATABASE_URL"], label) == 0
