"""chat/images/views.py: the upload view and its refusals, the job's status,
and serving ``/media/``."""

import io
from unittest import mock

import pytest
from channels.test import ChannelTestCase
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chat.models import RoomMembership, Upload
from tests.factories import make_room, make_upload
from tests.images.test_imaging import DISPLAY_P3, bomb_png, jpeg_with_orientation
from tests.images.test_metadata import GPS_IFD, SECRET
from tests.images.test_metadata import jpeg as metadata_jpeg
from tests.images.uploads import image_file, post, stored_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_refusals_store_nothing_and_say_why(media_root, settings):
    make_room()
    settings.CHAT_UPLOAD_MAX_BYTES = 50_000
    settings.CHAT_UPLOAD_MAX_PIXELS = 1_000_000
    settings.CHAT_UPLOAD_BURST = 100
    client = Client()
    text = SimpleUploadedFile("photo.png", b"not an image at all\n" * 20)
    cases = [
        ({"image": text}, 400, "NOT_AN_IMAGE"),
        ({"image": SimpleUploadedFile("big.png", b"\0" * 50_001)}, 413, "FILE_TOO_LARGE"),
        (
            {"image": SimpleUploadedFile("bomb.png", bomb_png(2000, 2000).getvalue())},
            413,
            "IMAGE_TOO_LARGE",
        ),
        ({}, 400, "MISSING_FIELD"),
        ({"image": image_file(), "handle": " "}, 400, "HANDLE_EMPTY"),
        ({"image": image_file(), "message": "x" * 2001}, 400, "MESSAGE_TOO_LONG"),
    ]
    for fields, status, code in cases:
        answer = post(client, **fields)
        assert (answer.status_code, answer.json()["error"]) == (status, code), fields
        assert answer.json()["detail"]

    no_handle = client.post("/lobby/upload/", {"image": image_file()})
    assert (no_handle.status_code, no_handle.json()["error"]) == (400, "MISSING_FIELD")
    unknown = post(client, label="nowhere", image=image_file())
    assert (unknown.status_code, unknown.json()["error"]) == (404, "NOT_FOUND")
    assert client.get("/lobby/upload/").status_code == 405
    assert not Upload.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.parametrize(
    "handle, status, code",
    [
        ("ann", 409, "HANDLE_TAKEN"),
        ("ANN", 409, "HANDLE_TAKEN"),
        ("ａｎｎ", 409, "HANDLE_TAKEN"),
        ("\ufb00nn", 409, "HANDLE_TAKEN"),  # "ﬀnn" is "ffnn", registered below
        ("ann\u200b", 400, "INVALID_FIELD"),
        ("\u202eann", 400, "INVALID_FIELD"),
    ],
)
def test_an_upload_without_a_user_may_not_use_a_registered_name(media_root, handle, status, code):
    make_room()
    get_user_model().objects.create_user("ann")
    get_user_model().objects.create_user("ffnn")

    answer = post(Client(), image=image_file(), handle=handle)

    assert (answer.status_code, answer.json()["error"]) == (status, code)
    assert not Upload.objects.exists()
    assert stored_files(media_root) == []


def test_a_private_room_refuses_a_non_members_upload_as_if_it_did_not_exist(media_root):
    room = make_room()
    room.private = True
    room.save()
    outsider = Client()
    outsider.force_login(get_user_model().objects.create_user("mallory"))

    for client in (Client(), outsider):
        answer = post(client, image=image_file())
        assert (answer.status_code, answer.json()["error"]) == (404, "NOT_FOUND")
    assert stored_files(media_root) == []
    assert not Upload.objects.exists()


def test_uploads_over_the_senders_rate_are_refused_with_retry_after(settings):
    make_room()
    settings.CHAT_UPLOAD_BURST = 2
    settings.CHAT_UPLOAD_PER_MINUTE = 6
    client = Client()

    answers = [post(client, image=image_file()) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["error"] == "RATE_LIMITED"
    assert int(answers[2]["Retry-After"]) == 10
    assert Upload.objects.count() == 2


def test_guests_share_their_addresss_upload_rate_however_many_sessions_they_make(settings):
    # A guest session costs nothing to make, so it cannot be what a guest's
    # uploads count against.
    make_room()
    settings.CHAT_UPLOAD_BURST = 2
    settings.CHAT_UPLOAD_PER_MINUTE = 6

    def fresh_guest(address, name):
        client = Client(REMOTE_ADDR=address)
        assert client.post("/lobby/name/", {"name": name}).status_code == 302
        return client

    answers = [
        post(fresh_guest("203.0.113.4", "g%d" % n), image=image_file()).status_code
        for n in range(3)
    ]
    assert answers == [202, 202, 429]
    assert post(fresh_guest("198.51.100.4", "other"), image=image_file()).status_code == 202
    member = Client(REMOTE_ADDR="203.0.113.4")
    member.force_login(get_user_model().objects.create_user("bea"))
    assert post(member, image=image_file()).status_code == 202


def test_the_upload_is_csrf_protected():
    make_room()
    answer = post(Client(enforce_csrf_checks=True), image=image_file())
    assert answer.status_code == 403
    assert not Upload.objects.exists()


def test_the_room_page_sets_the_csrf_cookie_for_its_uploads():
    make_room()
    assert "csrftoken" in Client().get("/lobby/").cookies


def test_a_database_outage_keeps_no_file(media_root):
    make_room()
    from django.db import OperationalError

    with mock.patch.object(Upload, "save", side_effect=OperationalError("down")):
        answer = post(Client(), image=image_file())

    assert (answer.status_code, answer.json()["error"]) == (503, "UNAVAILABLE")
    assert stored_files(media_root) == []


def test_the_original_keeps_a_name_of_the_servers_making(media_root):
    make_room()
    post(Client(), image=image_file(name="../../etc/passwd.png"))
    upload = Upload.objects.get()
    assert upload.original.name == "uploads/%s.png" % upload.pk.hex
    assert stored_files(media_root) == [media_root / "uploads" / ("%s.png" % upload.pk.hex)]


def test_media_are_served_as_their_checked_type_and_never_run():
    upload = make_upload(make_room(), image_format="JPEG", data=b"<script>x</script>")
    response = Client().get("/media/" + upload.original.name)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    # Its own policy, which the pages' (django-csp's) leaves in place.
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    "path",
    [
        "uploads/%s.html" % ("a" * 32),
        "../settings.py",
        "uploads/../../chat/settings.py",
        "uploads/%s.jpg" % ("b" * 32),  # a name that could be ours, not stored
        "uploads/%s.jpg" % ("c" * 32),  # stored, but no upload's
        "other/%s.jpg" % ("a" * 32),
    ],
)
def test_media_outside_the_servers_names_or_missing_are_not_found(path):
    default_storage.save("uploads/%s.html" % ("a" * 32), io.BytesIO(b"<p>hi</p>"))
    default_storage.save("uploads/%s.jpg" % ("c" * 32), io.BytesIO(b"jpeg"))
    assert Client().get("/media/" + path).status_code == 404


def test_another_name_than_the_uploads_own_is_not_found():
    upload = make_upload(make_room(), image_format="JPEG", data=b"jpeg")
    # The upload's id, with another extension than its original's.
    assert Client().get("/media/uploads/%s.png" % upload.pk.hex).status_code == 404


class PrivateMediaTests(ChannelTestCase):
    """A private room's images: from the chat alone, to its members alone."""

    def setUp(self):
        self.room = make_room("club")
        self.room.private = True
        self.room.save()
        self.upload = make_upload(
            self.room, data=b"original", thumbnail=b"thumbnail", width=1, height=1
        )
        self.message = self.room.messages.create(
            handle="ann", message="members' photo", seq=1, upload=self.upload
        )
        self.member = Client()
        ann = get_user_model().objects.create_user("ann")
        RoomMembership.objects.create(room=self.room, user=ann)
        self.member.force_login(ann)

    def test_its_images_are_served_to_members_and_kept_from_shared_caches(self):
        for field in (self.upload.original, self.upload.thumbnail):
            response = self.member.get("/media/" + field.name)
            self.assertEqual(response.status_code, 200)
            self.assertEqual(b"".join(response.streaming_content), field.open("rb").read())
            self.assertEqual(response["Cache-Control"], "private, max-age=31536000, immutable")

    def test_its_images_are_not_found_for_anyone_else(self):
        guest = Client()
        guest.post("/lobby/name/", {"name": "gwen"})
        outsider = Client()
        outsider.force_login(get_user_model().objects.create_user("mallory"))
        for client in (Client(), guest, outsider):
            for field in (self.upload.original, self.upload.thumbnail):
                self.assertEqual(client.get("/media/" + field.name).status_code, 404)

    def test_its_image_urls_are_the_chats_whatever_the_storage_serves(self):
        public_room = make_room("open")
        public_upload = make_upload(public_room, data=b"x", thumbnail=b"y", width=1, height=1)
        public_message = public_room.messages.create(
            handle="ann", message="photo", seq=1, upload=public_upload
        )
        # A storage that serves its files from elsewhere, as S3 does.
        with self.settings(MEDIA_URL="https://bucket.example/"):
            private = self.message.as_dict()["image"]
            public = public_message.as_dict()["image"]
            # The catch-up endpoint and the page give members the chat's URLs too.
            caught_up = self.member.get("/club/messages").json()["messages"]
            page = self.member.get("/club/").content.decode()

        self.assertEqual(
            (private["url"], private["thumbnail_url"]),
            ("/media/" + self.upload.original.name, "/media/" + self.upload.thumbnail.name),
        )
        self.assertEqual(
            (public["url"], public["thumbnail_url"]),
            (
                "https://bucket.example/" + public_upload.original.name,
                "https://bucket.example/" + public_upload.thumbnail.name,
            ),
        )
        self.assertEqual(caught_up[0]["image"], private)
        self.assertIn('src="/media/%s"' % self.upload.thumbnail.name, page)


def test_the_status_of_another_rooms_upload_is_not_found():
    make_room()
    make_room("other")
    state = post(Client(), image=image_file()).json()
    assert Client().get("/other/upload/%s/" % state["id"]).status_code == 404


def test_a_quarter_turned_jpeg_is_stored_with_its_displayed_size():
    make_room()
    answer = post(Client(), image=SimpleUploadedFile("r.jpg", jpeg_with_orientation(6).getvalue()))
    assert answer.status_code == 202
    upload = Upload.objects.get()
    assert (upload.original_width, upload.original_height) == (400, 800)


def test_an_uploaded_jpeg_with_gps_is_stored_without_it_and_keeps_orientation_and_profile(
    media_root,
):
    make_room()
    original = metadata_jpeg()
    assert SECRET in original

    answer = post(Client(), image=SimpleUploadedFile("trip.jpg", original))

    assert answer.status_code == 202
    upload = Upload.objects.get()
    stored = (media_root / upload.original.name).read_bytes()
    assert upload.size == len(stored)
    assert SECRET not in stored
    with Image.open(io.BytesIO(stored)) as image:
        exif = image.getexif()
        assert exif.get_ifd(GPS_IFD) == {}
        assert dict(exif) == {0x0112: 6}
        assert image.info["icc_profile"] == DISPLAY_P3
    assert (upload.original_width, upload.original_height) == (64, 96)


def test_a_jpeg_whose_structure_cannot_be_walked_is_not_stored(media_root):
    make_room()
    # Pillow reads its header, but a segment's length runs past the end.
    broken = metadata_jpeg()
    at = broken.index(b"\xff\xdb")
    broken = broken[: at + 2] + b"\xff\xff" + broken[at + 4 :]

    answer = post(Client(), image=SimpleUploadedFile("broken.jpg", broken))

    assert (answer.status_code, answer.json()["error"]) == (400, "NOT_AN_IMAGE")
    assert not Upload.objects.exists()
    assert stored_files(media_root) == []
