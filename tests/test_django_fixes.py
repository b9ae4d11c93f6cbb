"""Security fixes published for Django after 2.2.28, redone for 2.2
(``chat/transport/django_fixes.py``; the advisories in docs/security.md).

Each test fails on Django 2.2.28 as it is: with ``AUTHENTICATION_BACKENDS``
or ``FILE_UPLOAD_HANDLERS`` back at Django's defaults, or without
``install()``, which ``ChatConfig.ready`` runs in every process."""

import base64
import logging

import pytest
from channels.handler import AsgiHandler
from channels.message import Message as ChannelMessage
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.http.multipartparser import MultiPartParserError
from django.test import Client, RequestFactory

from chat.models import Upload
from chat.transport import django_fixes
from tests.factories import make_room
from tests.images.test_imaging import encoded as encoded_image

pytestmark = pytest.mark.django_db

BOUNDARY = "chatboundary"
PASSWORD = "correct horse battery"


class CountingHasher(MD5PasswordHasher):
    """A fast hasher that counts the hashes it makes, which is what a
    sign-in's time is made of."""

    calls = 0

    def encode(self, password, salt):
        CountingHasher.calls += 1
        return super().encode(password, salt)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.test_django_fixes.CountingHasher"]
    CountingHasher.calls = 0
    return CountingHasher


def hashes_to_sign_in(username, password="a wrong password"):
    """How many password hashes one sign-in attempt costs (int), through
    the configured ``AUTHENTICATION_BACKENDS``."""
    CountingHasher.calls = 0
    authenticate(None, username=username, password=password)
    return CountingHasher.calls


def test_signing_in_as_a_user_with_an_unusable_password_costs_what_an_unknown_user_costs(
    counting_hasher,
):
    User.objects.create_user("ann", password=PASSWORD)
    bob = User.objects.create_user("bob")
    bob.set_unusable_password()
    bob.save()
    User.objects.create_user("cy", password=None)
    User.objects.filter(username="cy").update(password="nosuchhasher$1$abc")

    assert hashes_to_sign_in("nobody") == 1
    assert hashes_to_sign_in("ann") == 1
    assert hashes_to_sign_in("bob") == 1
    assert hashes_to_sign_in("cy") == 1


def test_the_backend_still_signs_in_the_right_password_and_refuses_an_inactive_user(
    counting_hasher,
):
    ann = User.objects.create_user("ann", password=PASSWORD)
    User.objects.create_user("dee", password=PASSWORD, is_active=False)

    assert authenticate(None, username="ann", password=PASSWORD) == ann
    assert authenticate(None, username="ann", password="wrong") is None
    assert authenticate(None, username="dee", password=PASSWORD) is None
    assert authenticate(None, username="ann", password=None) is None


def test_a_session_signed_in_before_the_fix_stays_signed_in():
    ann = User.objects.create_user("ann", password=PASSWORD)
    client = Client()
    client.force_login(ann, backend="django.contrib.auth.backends.ModelBackend")

    assert "Signed in as ann" in client.get("/").content.decode()


def test_signing_in_with_the_login_form_still_works_and_a_wrong_password_is_refused(
    counting_hasher,
):
    User.objects.create_user("ann", password=PASSWORD)
    right, wrong = Client(), Client()

    refused = wrong.post("/accounts/login/", {"username": "ann", "password": "wrong"})
    accepted = right.post("/accounts/login/", {"username": "ann", "password": PASSWORD})

    assert refused.status_code == 200 and "_auth_user_id" not in wrong.session
    assert accepted.status_code == 302
    assert right.session["_auth_user_backend"] == "chat.transport.django_fixes.ModelBackend"


def multipart(*parts):
    """A ``multipart/form-data`` body (bytes) of ``parts``, each a tuple of
    (headers as one str, content bytes)."""
    body = b""
    for headers, content in parts:
        body += b"--%s\r\n%s\r\n\r\n%s\r\n" % (BOUNDARY.encode(), headers.encode(), content)
    return body + b"--%s--\r\n" % BOUNDARY.encode()


def file_part(name="image", filename="a.png", extra=""):
    headers = 'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name, filename)
    return (headers + "Content-Type: image/png" + extra, b"\x89PNG not really")


def png_bytes():
    return encoded_image("PNG", size=(20, 10)).getvalue()


def field_part(name, value):
    return ('Content-Disposition: form-data; name="%s"' % name, value.encode())


def parsed_request(body, path="/lobby/upload/"):
    """A POST request with ``body``, as the upload view would get it."""
    return RequestFactory().post(
        path, data=body, content_type="multipart/form-data; boundary=%s" % BOUNDARY
    )


def test_a_multipart_body_may_carry_as_many_files_as_the_limit(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    request = parsed_request(multipart(*[file_part() for _ in range(3)]))

    assert len(request.FILES.getlist("image")) == 3


def test_a_multipart_body_with_one_file_over_the_limit_is_refused_before_it_is_opened(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    request = parsed_request(multipart(*[file_part() for _ in range(4)]))

    with pytest.raises(django_fixes.TooManyFilesSent):
        request.POST.get("handle")


def test_the_file_limit_counts_files_across_fields_and_leaves_plain_fields_alone(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    fields = [field_part("message", "hi") for _ in range(20)]
    allowed = parsed_request(multipart(*fields, file_part("a"), file_part("b")))
    refused = parsed_request(multipart(file_part("a"), file_part("b"), file_part("c")))

    assert len(allowed.POST.getlist("message")) == 20
    with pytest.raises(django_fixes.TooManyFilesSent):
        refused.POST.get("handle")


def test_an_upload_with_more_files_than_the_limit_gets_400_and_stores_nothing(settings):
    make_room()
    parts = [field_part("handle", "ann")] + [file_part() for _ in range(11)]
    response = Client().post(
        "/lobby/upload/",
        data=multipart(*parts),
        content_type="multipart/form-data; boundary=%s" % BOUNDARY,
    )

    assert settings.DATA_UPLOAD_MAX_NUMBER_FILES == 10
    assert response.status_code == 400
    assert not Upload.objects.exists()


def test_a_multipart_part_with_a_content_transfer_encoding_is_refused():
    encoded = file_part(extra="\r\nContent-Transfer-Encoding: base64")
    request = parsed_request(multipart(field_part("handle", "ann"), encoded))

    with pytest.raises(MultiPartParserError):
        request.POST.get("handle")


def test_an_upload_whose_image_is_base64_encoded_gets_400_and_stores_nothing(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    make_room()
    headers, _ = file_part(extra="\r\nContent-Transfer-Encoding: base64")
    encoded = (headers, base64.b64encode(png_bytes()))
    response = Client().post(
        "/lobby/upload/",
        data=multipart(field_part("handle", "ann"), encoded),
        content_type="multipart/form-data; boundary=%s" % BOUNDARY,
    )

    assert response.status_code == 400
    assert not Upload.objects.exists()


def test_a_request_path_with_a_newline_is_logged_on_one_line(caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = Client().get("/no/such/%0A2026-12-04 ERROR forged line/")

    assert response.status_code == 404
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert "\n" not in record.getMessage()
    assert "\\n2026-12-04 ERROR forged line" in record.getMessage()


def test_logged_arguments_are_escaped_and_other_values_kept():
    assert django_fixes.escaped_log_args(("a\x1b[31m\r\n", 404, None)) == (
        "a\\x1b[31m\\r\\n",
        404,
        None,
    )


def asgi_request(content_type, body=b""):
    """The request the workers' handler builds for an ASGI ``http.request``
    with this ``Content-Type`` header (bytes) and ``body``."""
    content = {
        "reply_channel": "daphne.response.test!1",
        "http_version": "1.1",
        "method": "POST",
        "path": "/lobby/upload/",
        "query_string": b"",
        "headers": [
            [b"host", b"localhost"],
            [b"content-type", content_type],
            [b"content-length", b"%d" % len(body)],
        ],
        "body": body,
    }
    return AsgiHandler.request_class(ChannelMessage(content, "http.request", None))


def test_an_overlong_content_type_is_dropped_before_it_is_parsed():
    request = asgi_request(b'text/plain; a="' + b";" * 5000 + b'"')

    assert request.content_type == ""
    assert "CONTENT_TYPE" not in request.META


def test_a_real_content_type_is_kept():
    request = asgi_request(b"multipart/form-data; boundary=%s" % BOUNDARY.encode())

    assert request.content_type == "multipart/form-data"
    assert request.content_params == {"boundary": BOUNDARY}


def test_installing_the_fixes_twice_changes_nothing():
    handler_class = AsgiHandler.request_class
    django_fixes.install()

    assert AsgiHandler.request_class is handler_class
    assert getattr(handler_class, "chat_fixed", False)


def test_past_the_file_limit_a_workers_request_has_an_empty_form_for_its_next_reader(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    content_type = b"multipart/form-data; boundary=%s" % BOUNDARY.encode()
    request = asgi_request(content_type, multipart(*[file_part() for _ in range(4)]))

    with pytest.raises(django_fixes.TooManyFilesSent):
        request.POST.get("handle")
    # The 400 page's CSRF check reads the form again: it must not parse anew.
    assert not request.POST
    assert not request.FILES
