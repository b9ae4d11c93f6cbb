"""chat/images/thumbnails.py: the ``chat.thumbnail`` job from upload to
message, retries, the sweep that finds lost jobs, ``chatjobs`` and the
admin's requeue."""

import io
import json
from datetime import timedelta
from unittest import mock

import pytest
from channels.message import Message as ChannelMessage
from channels.test import ChannelTestCase
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from chat import services
from chat.identity import GUEST_AUTHOR_SESSION_KEY
from chat.images import thumbnails
from chat.models import Message, Upload
from tests.factories import make_room
from tests.images.test_imaging import encoded
from tests.images.uploads import image_file, post, run_next_job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


class UploadFlowTests(ChannelTestCase):
    def test_an_upload_is_queued_then_becomes_a_message_with_its_thumbnail(self):
        room = make_room()
        room.group.add("member")
        client = Client()

        answer = post(client, image=image_file(), message="our new logo")

        self.assertEqual(answer.status_code, 202)
        state = answer.json()
        self.assertEqual(state["status"], "pending")
        self.assertEqual(state["status_url"], "/lobby/upload/%s/" % state["id"])
        self.assertFalse(Message.objects.exists())
        job = self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)
        self.assertEqual(job.content, {"upload": state["id"]})

        thumbnails.thumbnail(job)

        upload = Upload.objects.get()
        self.assertEqual((upload.status, upload.attempts), (Upload.DONE, 1))
        message = Message.objects.get()
        self.assertEqual((message.handle, message.message, message.seq), ("ann", "our new logo", 1))
        frame = json.loads(self.get_next_message("member", require=True).content["text"])
        self.assertEqual(frame, message.as_dict())
        self.assertEqual(
            frame["image"],
            {
                "url": "/media/uploads/%s.png" % upload.pk.hex,
                "thumbnail_url": "/media/uploads/thumbnails/%s.png" % upload.pk.hex,
                "width": 480,
                "height": 240,
            },
        )
        self.assertEqual(client.get(state["status_url"]).json()["status"], "done")
        # The catch-up endpoint and the page's history give the same shape.
        caught_up = client.get("/lobby/messages").json()["messages"]
        self.assertEqual(caught_up, [frame])
        thumbnail = client.get(frame["image"]["thumbnail_url"])
        self.assertEqual(thumbnail.status_code, 200)
        self.assertEqual(
            Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))).size, (480, 240)
        )

    def test_without_a_caption_the_message_text_is_the_file_name(self):
        make_room()
        post(Client(), image=image_file(name="C:\\Users\\ann\\holiday.png"))
        run_next_job(self)
        self.assertEqual(Message.objects.get().message, "holiday.png")

    def test_a_signed_in_sender_speaks_as_their_username_and_sends_no_handle(self):
        make_room()
        user = get_user_model().objects.create_user("bea", password="a long passphrase")
        client = Client()
        client.force_login(user)

        answer = client.post("/lobby/upload/", {"image": image_file(), "handle": "mallory"})

        self.assertEqual(answer.status_code, 202)
        run_next_job(self)
        message = Message.objects.get()
        self.assertEqual((message.handle, message.guest), ("bea", False))
        self.assertNotIn("guest", message.as_dict())

    def test_an_image_sent_without_a_user_becomes_a_guest_message(self):
        make_room().group.add("member")
        post(Client(), image=image_file(), handle="gus")
        run_next_job(self)
        frame = json.loads(self.get_next_message("member", require=True).content["text"])
        self.assertEqual((frame["handle"], frame["guest"]), ("gus", True))

    def test_an_image_that_fails_to_decode_is_failed_and_can_be_retried(self):
        make_room()
        client = Client()
        data = encoded("JPEG", size=(600, 600)).getvalue()
        # The header and structure pass the upload's check; the scan data
        # are cut short, which only decoding finds.
        truncated = data[: len(data) // 3]
        state = post(client, image=SimpleUploadedFile("cut.jpg", truncated)).json()

        run_next_job(self)

        failed = client.get(state["status_url"]).json()
        self.assertEqual(
            failed,
            {
                "id": state["id"],
                "status": "failed",
                "error": "Could not process image.",
                "retryable": True,
                "status_url": state["status_url"],
            },
        )
        self.assertIn("cannot be decoded", Upload.objects.get().error)
        self.assertFalse(Message.objects.exists())

        retried = client.post(state["status_url"] + "retry/")

        self.assertEqual(retried.status_code, 202)
        self.assertEqual(retried.json()["status"], "pending")
        self.assertEqual(Upload.objects.get().attempts, 0)
        self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)

    def test_a_job_that_is_done_cannot_be_retried(self):
        make_room()
        client = Client()
        state = post(client, image=image_file()).json()
        run_next_job(self)

        answer = client.post(state["status_url"] + "retry/")

        self.assertEqual(answer.status_code, 409)
        self.assertEqual(answer.json()["error"], "NOT_RETRYABLE")
        self.assertIsNone(self.get_next_message(thumbnails.THUMBNAIL_CHANNEL))

    def test_a_job_sent_twice_runs_once(self):
        make_room()
        state = post(Client(), image=image_file()).json()
        job = self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)

        thumbnails.thumbnail(job)
        thumbnails.thumbnail(job)

        self.assertEqual(Message.objects.count(), 1)
        self.assertEqual(Upload.objects.get(pk=state["id"]).attempts, 1)

    def test_the_job_is_done_before_the_room_sees_its_message(self):
        make_room()
        post(Client(), image=image_file())
        seen = []
        broadcast = services._broadcast

        def recording_broadcast(room, message, *nonce):
            seen.append(Upload.objects.get().status)
            broadcast(room, message, *nonce)

        with mock.patch.object(services, "_broadcast", recording_broadcast):
            run_next_job(self)

        self.assertEqual(seen, [Upload.DONE])

    def test_a_job_whose_message_another_start_posted_is_only_marked_done(self):
        make_room()
        post(Client(), image=image_file())
        run_next_job(self)
        upload = Upload.objects.get()
        Upload.objects.filter(pk=upload.pk).update(status=Upload.PENDING)

        thumbnails.thumbnail(
            ChannelMessage({"upload": str(upload.pk)}, thumbnails.THUMBNAIL_CHANNEL, None)
        )

        self.assertEqual(Message.objects.count(), 1)
        self.assertEqual(Upload.objects.get().status, Upload.DONE)

    def test_a_job_for_an_unknown_or_malformed_id_does_nothing(self):
        for upload_id in ("not-a-uuid", "6f1d8f0e-0000-4000-8000-000000000000", None):
            thumbnails.thumbnail(
                ChannelMessage({"upload": upload_id}, thumbnails.THUMBNAIL_CHANNEL, None)
            )
        self.assertFalse(Message.objects.exists())


class SweepTests(ChannelTestCase):
    def make_upload(self, **fields):
        make_room()
        state = post(Client(), image=image_file()).json()
        self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)
        Upload.objects.filter(pk=state["id"]).update(**fields)
        return Upload.objects.get(pk=state["id"])

    def test_a_pending_job_whose_message_expired_is_sent_again(self):
        upload = self.make_upload()
        later = timezone.now() + timedelta(seconds=thumbnails.LAYER_EXPIRY_S + 1)

        self.assertEqual(thumbnails.sweep(later), {"resent": 1, "restarted": 0, "failed": 0})

        job = self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)
        self.assertEqual(job.content["upload"], str(upload.pk))
        self.assertEqual(thumbnails.sweep(later), {"resent": 0, "restarted": 0, "failed": 0})

    def test_a_fresh_pending_job_is_left_alone(self):
        self.make_upload()
        self.assertEqual(thumbnails.sweep(), {"resent": 0, "restarted": 0, "failed": 0})
        self.assertIsNone(self.get_next_message(thumbnails.THUMBNAIL_CHANNEL))

    def test_a_job_no_worker_takes_fails_after_the_timeout(self):
        upload = self.make_upload()
        later = timezone.now() + timedelta(seconds=121)

        self.assertEqual(thumbnails.sweep(later)["failed"], 1)

        upload.refresh_from_db()
        self.assertEqual(upload.status, Upload.FAILED)
        self.assertIn("No worker took the job", upload.error)

    def test_a_job_whose_worker_died_is_started_again_then_failed_after_its_attempts(self):
        upload = self.make_upload(
            status=Upload.PROCESSING, attempts=1, worker="w1", started_at=timezone.now()
        )
        with mock.patch.object(thumbnails, "worker_alive", return_value=False):
            self.assertEqual(thumbnails.sweep()["restarted"], 1)
            self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)
            upload.refresh_from_db()
            self.assertEqual(upload.status, Upload.PENDING)

            Upload.objects.filter(pk=upload.pk).update(status=Upload.PROCESSING, attempts=3)
            self.assertEqual(thumbnails.sweep()["failed"], 1)
        upload.refresh_from_db()
        self.assertEqual(upload.status, Upload.FAILED)
        self.assertIn("interrupted 3 times", upload.error)
        self.assertIsNone(self.get_next_message(thumbnails.THUMBNAIL_CHANNEL))

    def test_a_job_of_a_live_worker_is_left_running_until_the_timeout(self):
        self.make_upload(
            status=Upload.PROCESSING, attempts=1, worker="w1", started_at=timezone.now()
        )
        with mock.patch.object(thumbnails, "worker_alive", return_value=True):
            self.assertEqual(thumbnails.sweep()["restarted"], 0)
            later = timezone.now() + timedelta(seconds=121)
            self.assertEqual(thumbnails.sweep(later)["restarted"], 1)

    def test_an_unreachable_redis_does_not_count_as_a_dead_worker(self):
        self.make_upload(
            status=Upload.PROCESSING, attempts=1, worker="w1", started_at=timezone.now()
        )
        with mock.patch.object(thumbnails, "worker_alive", side_effect=ConnectionError):
            self.assertEqual(thumbnails.sweep()["restarted"], 0)

    def test_chatjobs_lists_and_requeues_stuck_and_failed_jobs(self):
        upload = self.make_upload(status=Upload.FAILED, error="The image cannot be decoded: x")
        out = io.StringIO()

        call_command("chatjobs", stdout=out)

        listed = out.getvalue()
        self.assertIn(str(upload.pk), listed)
        self.assertIn("failed", listed)
        self.assertIn("cannot be decoded", listed)

        out = io.StringIO()
        call_command("chatjobs", "--requeue", stdout=out)

        self.assertIn("Queued 1 job", out.getvalue())
        self.assertEqual(Upload.objects.get().status, Upload.PENDING)
        self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)


class UploadAdminTests(ChannelTestCase):
    def test_the_admin_lists_jobs_and_queues_failed_ones_again(self):
        make_room()
        post(Client(), image=image_file())
        self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)
        upload = Upload.objects.get()
        Upload.objects.filter(pk=upload.pk).update(status=Upload.FAILED, error="decoder broke")
        admin_user = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
        client = Client()
        client.force_login(admin_user)

        listing = client.get("/admin/chat/upload/").content.decode()
        self.assertIn("decoder broke", listing)
        client.post(
            "/admin/chat/upload/",
            {"action": "queue_again", "_selected_action": [str(upload.pk)]},
        )

        self.assertEqual(Upload.objects.get().status, Upload.PENDING)
        self.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)


class UploadAuthorTests(ChannelTestCase):
    def test_an_images_message_has_the_guest_who_sent_it_as_its_author(self):
        make_room()
        client = Client()
        client.post("/lobby/name/", {"name": "gus"})
        author = client.session[GUEST_AUTHOR_SESSION_KEY]
        client.post("/lobby/upload/", {"image": image_file()})
        run_next_job(self)
        message = Message.objects.get()
        self.assertEqual((message.handle, message.guest_author.hex), ("gus", author))

    def test_an_images_message_has_the_signed_in_user_who_sent_it_as_its_author(self):
        make_room()
        user = get_user_model().objects.create_user("bea")
        client = Client()
        client.force_login(user)
        client.post("/lobby/upload/", {"image": image_file()})
        run_next_job(self)
        self.assertEqual(Message.objects.get().user, user)
