import functools


class ClientError(Exception):
    """A frame the server refuses, reported to the sending socket only.

    ``code`` is a stable, upper-case identifier that clients may branch on
    (see docs/protocol.md); ``detail`` is a human-readable sentence. Neither
    ever carries exception text or anything else from the server's internals.
    ``status`` (int) is the HTTP status it answers with where it refuses an
    HTTP request instead of a frame: 400 unless given.
    """

    def __init__(self, code, detail, status=400):
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.status = status

    def as_dict(self):
        """The error frame's payload: ``{"type": "error", "error": str,
        "detail": str}`` (``type`` added 2026-11-30, docs/protocol.md)."""
        return {"type": "error", "error": self.code, "detail": self.detail}


class HttpClientError(ClientError):
    """A ``ClientError`` whose HTTP answer carries ``headers`` too (dict of
    str to str), such as ``WWW-Authenticate`` or ``Retry-After``."""

    def __init__(self, code, detail, status, headers):
        super().__init__(code, detail, status=status)
        self.headers = headers


def error_response(error):
    """The JSON answer (a ``JsonResponse``) to ``error`` (a ``ClientError``):
    its ``as_dict()`` payload, its status, and an ``HttpClientError``'s
    headers."""
    from django.http import JsonResponse

    response = JsonResponse(error.as_dict(), status=error.status)
    for name, value in getattr(error, "headers", {}).items():
        response[name] = value
    return response


def json_client_errors(view):
    """Decorate a JSON view so that a ``ClientError`` it raises becomes its
    ``{"error", "detail"}`` payload with the error's HTTP status
    (``error_response``)."""

    @functools.wraps(view)
    def inner(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ClientError as error:
            return error_response(error)

    return inner
