"""``manage.py chatprune``: ended webhook deliveries and failed uploads
older than ``--days`` go, with the uploads' files; nothing else does."""

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from chat.images import thumbnails
from chat.management.commands import chatprune
from chat.models import Message, Upload, WebhookDelivery
from tests.factories import make_room, make_upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_files(media_root):
    """The storage's file names under ``media_root``, sorted."""
    return sorted(
        p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file()
    )


def ago(days):
    return timezone.now() - timedelta(days=days)


def upload(room, status, days_ago, thumbnail=False):
    """An ``Upload`` in ``status`` whose job ended ``days_ago`` days ago,
    with its original (and ``thumbnail``) stored."""
    return make_upload(
        room, status, thumbnail=b"png" if thumbnail else None, finished_at=ago(days_ago)
    )


def delivery(room, status, days_ago):
    message = room.messages.create(handle="ann", message="hi", seq=room.messages.count() + 1)
    return WebhookDelivery.objects.create(
        room=room,
        message=message,
        url="https://hooks.example/in",
        status=status,
        finished_at=None if status == WebhookDelivery.PENDING else ago(days_ago),
        created_at=ago(days_ago),
    )


def prune(*args):
    out = io.StringIO()
    call_command("chatprune", *args, stdout=out)
    return out.getvalue()


def test_only_ended_records_older_than_the_limit_go(media_root):
    room = make_room()
    old_delivered = delivery(room, WebhookDelivery.DELIVERED, 31)
    old_failed = delivery(room, WebhookDelivery.FAILED, 40)
    recent = delivery(room, WebhookDelivery.DELIVERED, 29)
    pending = delivery(room, WebhookDelivery.PENDING, 90)
    old_failed_upload = upload(room, Upload.FAILED, 31, thumbnail=True)
    assert old_failed_upload.thumbnail.name in stored_files(media_root)
    recent_failed_upload = upload(room, Upload.FAILED, 1)
    waiting_upload = upload(room, Upload.PENDING, 60)
    done_upload = upload(room, Upload.DONE, 60)
    room.messages.create(handle="ann", message="photo", seq=99, upload=done_upload)
    messages = Message.objects.count()

    printed = prune()

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not WebhookDelivery.objects.filter(pk__in=[old_delivered.pk, old_failed.pk]).exists()
    assert set(Upload.objects.values_list("pk", flat=True)) == {
        recent_failed_upload.pk,
        waiting_upload.pk,
        done_upload.pk,
    }
    assert Message.objects.count() == messages
    # The old failed upload's original and thumbnail are gone; the others' stay.
    assert stored_files(media_root) == sorted(u.original.name for u in Upload.objects.all())
    assert printed.splitlines() == [
        "Deleted 2 webhook deliveries.",
        "Deleted 1 failed uploads and 2 files.",
    ]


def test_the_limit_is_given_in_days():
    room = make_room()
    delivery(room, WebhookDelivery.DELIVERED, 3)
    upload(room, Upload.FAILED, 3)

    assert prune("--days", "4").splitlines()[0] == "Deleted 0 webhook deliveries."
    assert prune("--days", "2").splitlines() == [
        "Deleted 1 webhook deliveries.",
        "Deleted 1 failed uploads and 1 files.",
    ]


def test_a_dry_run_counts_and_deletes_nothing(media_root):
    room = make_room()
    delivery(room, WebhookDelivery.FAILED, 31)
    upload(room, Upload.FAILED, 31)
    files = stored_files(media_root)

    printed = prune("--dry-run")

    assert printed.startswith("Would delete 1 webhook deliveries and 1 failed uploads that ended")
    assert WebhookDelivery.objects.count() == 1 and Upload.objects.count() == 1
    assert stored_files(media_root) == files


@pytest.mark.parametrize("days", ["0", "-3"])
def test_fewer_than_one_day_is_refused(days):
    room = make_room()
    delivery(room, WebhookDelivery.DELIVERED, 31)
    with pytest.raises(CommandError, match="at least 1"):
        prune("--days", days)
    assert WebhookDelivery.objects.count() == 1


def test_many_rows_go_in_batches_with_progress(monkeypatch):
    monkeypatch.setattr(chatprune, "BATCH_SIZE", 2)
    room = make_room()
    for _ in range(5):
        delivery(room, WebhookDelivery.DELIVERED, 31)
    recent = delivery(room, WebhookDelivery.DELIVERED, 1)

    printed = prune()

    assert printed.splitlines() == [
        "  webhook deliveries: 2 of 5",
        "  webhook deliveries: 4 of 5",
        "  webhook deliveries: 5 of 5",
        "Deleted 5 webhook deliveries.",
        "Deleted 0 failed uploads and 0 files.",
    ]
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_file_the_storage_cannot_delete_is_reported_after_the_rest(caplog):
    room = make_room()
    first = upload(room, Upload.FAILED, 31)
    upload(room, Upload.FAILED, 31)
    storage = first.original.storage
    real_delete = storage.delete

    def delete(name):
        if name == first.original.name:
            raise OSError("permission denied")
        real_delete(name)

    with mock.patch.object(storage, "delete", side_effect=delete):
        with pytest.raises(CommandError, match="1 files could not be deleted"):
            prune()

    assert not Upload.objects.exists()
    assert first.original.name in caplog.text


def test_an_upload_retried_meanwhile_is_kept_with_its_files(media_root):
    room = make_room()
    failed = upload(room, Upload.FAILED, 31)
    Upload.objects.filter(pk=failed.pk).update(status=Upload.PENDING)

    assert thumbnails.delete_failed(failed) is None
    assert Upload.objects.filter(pk=failed.pk).exists()
    assert stored_files(media_root) == [failed.original.name]
