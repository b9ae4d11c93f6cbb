"""Security fixes published for Django after 2.2.28, redone for 2.2's code.

Django 2.2.28 (April 2022) is the last 2.2 release, and the pinned stack
cannot move past it: channels 1.1.8 needs ``asgiref~=1.1``, Django 3.0 and
later need ``asgiref>=3.2``. docs/security.md goes through every Django
security advisory published since, says for each whether 2.2 has the flaw
and whether the chat reaches it, and names the repair here for each one it
reaches:

- ``ModelBackend`` (CVE-2024-39329): signing in as a user whose password is
  unusable answers as slowly as signing in as nobody, so the time taken does
  not tell which usernames exist. ``AUTHENTICATION_BACKENDS`` names it.
- ``FileCountUploadHandler`` (CVE-2023-24580): a multipart body with more
  than ``DATA_UPLOAD_MAX_NUMBER_FILES`` files is refused with 400
  (``TooManyFilesSent``) before the next file is opened, instead of holding
  one file (in memory or a temporary file) per part. ``FILE_UPLOAD_HANDLERS``
  names it first.
- ``install()``, called once per process by ``ChatConfig.ready``:

  - a multipart part with a ``Content-Transfer-Encoding`` header is refused
    with 400 (CVE-2026-33033: 2.2 decodes base64 parts a few bytes at a time
    across whitespace, copying the rest of a 64 KiB chunk for every read;
    1 MiB of whitespace cost 1.4 s of a worker's CPU). RFC 7578, section
    4.7, forbids the header in ``multipart/form-data``; no browser sends it.
  - the arguments of Django's 4xx/5xx request log lines (the request's
    path, above all) are logged with control characters escaped
    (CVE-2025-48432), so that ``/%0a...`` cannot forge log lines.
  - a ``Content-Type`` header longer than ``CONTENT_TYPE_MAX_LENGTH`` is
    dropped before the request is built (CVE-2026-84429: the parameter
    parser that channels' ``AsgiRequest`` uses, ``cgi.parse_header``, is
    quadratic in the semicolons inside a quoted value; 16 KiB, the most
    Twisted lets a request's headers total, cost 150 ms of a worker's CPU).

The reference for each is Django's own fix in its supported releases and,
for the sign-in, file-count and log fixes, Debian's backport of it to
2.2.28 (python-django ``2:2.2.28-1~deb11u2``, ``u7`` and ``u11``).
"""

import importlib
import logging

from channels.handler import AsgiHandler, AsgiRequest
from django.conf import settings
from django.contrib.auth import backends, get_user_model
from django.contrib.auth.hashers import identify_hasher, is_password_usable
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler

logger = logging.getLogger(__name__)

# Django's default for the limit, from 3.2.18 on (its global_settings).
DATA_UPLOAD_MAX_NUMBER_FILES_DEFAULT = 100

# The longest Content-Type header value kept, in bytes. A multipart
# boundary is at most 70 characters (RFC 2046), so a real header is well
# under 200; 1,024 leaves room for any charset or extra parameter.
CONTENT_TYPE_MAX_LENGTH = 1024


class TooManyFilesSent(SuspiciousOperation):
    """A multipart body held more files than ``DATA_UPLOAD_MAX_NUMBER_FILES``.

    Django 3.2.18's exception of the same name; as a ``SuspiciousOperation``,
    Django answers it with 400 and logs it to
    ``django.security.TooManyFilesSent``."""


class FileCountUploadHandler(FileUploadHandler):
    """An upload handler that only counts: it raises ``TooManyFilesSent``
    when a request's multipart body reaches its file number
    ``DATA_UPLOAD_MAX_NUMBER_FILES`` + 1 (the setting, an int, or None for
    no limit; 100 when unset, Django 3.2.18's default).

    Listed first in ``FILE_UPLOAD_HANDLERS``, it sees each file part before
    the handlers that store it, so no file past the limit is ever opened.
    Django makes one instance per request, which is what keeps the count
    per request. It stores nothing: every other call passes the data on.
    Past the limit the request's ``POST`` and ``FILES`` are left empty.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.files_seen = 0

    def new_file(self, *args, **kwargs):
        """Count the file; raises ``TooManyFilesSent`` past the limit."""
        limit = getattr(
            settings, "DATA_UPLOAD_MAX_NUMBER_FILES", DATA_UPLOAD_MAX_NUMBER_FILES_DEFAULT
        )
        self.files_seen += 1
        if limit is not None and self.files_seen > limit:
            if self.request is not None:
                # The request's form is then empty for whoever reads it
                # next, as after any parse error: the 400 page's CSRF
                # check reads it again, and channels' AsgiRequest would
                # parse the whole body anew (Django 3.2.18 does the same).
                self.request._mark_post_parse_error()
            raise TooManyFilesSent(
                "The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES."
            )
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        """Pass the chunk (bytes) on to the next handler unchanged."""
        return raw_data

    def file_complete(self, file_size):
        """Leave the file to the handlers that store it (returns None)."""
        return None


class ModelBackend(backends.ModelBackend):
    """Django's ``ModelBackend`` whose refusals all cost one password hash.

    2.2's ``authenticate`` hashes the given password once for an unknown
    username, and checks it against the stored hash for a known one, but
    returns at once for a user whose password is unusable
    (``set_unusable_password``) or whose hash names a hasher that is not
    installed: a sign-in that fails fast tells that the username exists.
    This hashes the password once in those cases too (CVE-2024-39329;
    Django 4.2.14 does it inside ``check_password``).

    ``authenticate(request, username, password)`` returns the ``User``;
    ``user_can_authenticate`` still refuses an inactive user, after the
    hash. A refusal raises ``PermissionDenied`` rather than returning None:
    ``django.contrib.auth.authenticate`` takes it as the same refusal, but
    tries no backend listed after this one. Django's own ``ModelBackend``
    stays listed after it for the sessions signed in before it, which name
    that backend, and would otherwise hash again or answer at once.
    Without a username or password it returns None, as Django's does.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            user = None
        if user is None or not _password_checkable(user.password):
            # The hash an unknown user costs in Django's own backend, and
            # what checking a real password would cost.
            user_model().set_password(password)
        elif user.check_password(password) and self.user_can_authenticate(user):
            return user
        raise PermissionDenied


def _password_checkable(encoded):
    """Whether ``check_password`` would hash against ``encoded`` (bool):
    a usable password, in a format an installed hasher reads."""
    if encoded is None or not is_password_usable(encoded):
        return False
    try:
        identify_hasher(encoded)
    except ValueError:
        return False
    return True


def install():
    """Apply the repairs that patch Django's modules in place: the refused
    ``Content-Transfer-Encoding``, the escaped request log lines and the
    bounded ``Content-Type``. Idempotent; returns nothing."""
    _refuse_transfer_encodings()
    _escape_logged_requests()
    _bound_content_type()


def _refuse_transfer_encodings():
    from django.http import multipartparser

    original = multipartparser.parse_boundary_stream
    if getattr(original, "chat_fixed", False):
        return

    def parse_boundary_stream(stream, max_header_size):
        item_type, headers, part = original(stream, max_header_size)
        if "content-transfer-encoding" in headers:
            raise multipartparser.MultiPartParserError(
                "Content-Transfer-Encoding is not allowed in multipart/form-data."
            )
        return item_type, headers, part

    parse_boundary_stream.chat_fixed = True
    multipartparser.parse_boundary_stream = parse_boundary_stream


# The modules that imported django.utils.log.log_response by name, each
# of which needs the escaping version.
LOG_RESPONSE_USERS = (
    "django.core.handlers.base",
    "django.core.handlers.exception",
    "django.middleware.csrf",
    "django.utils.cache",
    "django.utils.log",
    "django.views.decorators.http",
)


def escaped_log_args(args):
    """``args`` (a tuple of log arguments) with every str escaped as
    ``unicode_escape`` (a newline becomes the two characters ``\\n``);
    other values as they are. Django 4.2.22's escaping of
    ``log_response``'s arguments."""
    return tuple(
        arg.encode("unicode_escape").decode("ascii") if isinstance(arg, str) else arg
        for arg in args
    )


def _escape_logged_requests():
    from django.utils import log

    original = log.log_response
    if getattr(original, "chat_fixed", False):
        return

    def log_response(message, *args, **kwargs):
        return original(message, *escaped_log_args(args), **kwargs)

    log_response.chat_fixed = True
    for name in LOG_RESPONSE_USERS:
        module = importlib.import_module(name)
        if getattr(module, "log_response", None) is original:
            module.log_response = log_response


def _bound_content_type():
    if not getattr(AsgiHandler.request_class, "chat_fixed", False):
        AsgiHandler.request_class = BoundedAsgiRequest


def _bounded_headers(headers):
    """The ASGI ``headers`` (a list of ``[name, value]`` byte pairs) without
    a ``content-type`` longer than ``CONTENT_TYPE_MAX_LENGTH`` bytes."""
    kept = []
    for name, value in headers:
        if name.lower() == b"content-type" and len(value) > CONTENT_TYPE_MAX_LENGTH:
            logger.warning("Dropped a Content-Type header of %d bytes.", len(value))
            continue
        kept.append((name, value))
    return kept


class BoundedAsgiRequest(AsgiRequest):
    """channels' ``AsgiRequest``, built without an overlong ``Content-Type``
    header (``_bounded_headers``): the request then has no content type, so
    its body is parsed as no form, and a form view sees an empty one (a
    CSRF-protected POST is refused with 403)."""

    chat_fixed = True

    def __init__(self, message):
        headers = message.get("headers")
        if isinstance(headers, list):
            message["headers"] = _bounded_headers(headers)
        super().__init__(message)
