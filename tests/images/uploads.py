"""Helpers of the upload tests: an image file, its POST, the files
stored, and a thumbnail job run as a worker would."""

from django.core.files.uploadedfile import SimpleUploadedFile

from chat.images import thumbnails
from tests.images.test_imaging import encoded


def image_file(name="photo.png", image_format="PNG", size=(640, 320)):
    """An uploaded ``image_format`` image of ``size`` pixels, named ``name``."""
    return SimpleUploadedFile(name, encoded(image_format, size=size).getvalue())


def post(client, label="lobby", **fields):
    """POST ``fields`` (the handle ``ann`` unless given) to ``label``'s upload
    view with the Django test ``client``; returns the response."""
    fields.setdefault("handle", "ann")
    return client.post("/%s/upload/" % label, fields)


def stored_files(media_root):
    """The files under ``media_root`` (a ``Path``), sorted."""
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def run_next_job(test):
    """Run the next job waiting on ``chat.thumbnail`` as a worker would
    (``test``: a ``ChannelTestCase``)."""
    test_message = test.get_next_message(thumbnails.THUMBNAIL_CHANNEL, require=True)
    thumbnails.thumbnail(test_message)
