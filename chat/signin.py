"""Sign-in throttling: django-axes, with a second limit per client address.

django-axes (``AXES_*`` in chat/settings.py) records every failed sign-in
through ``django.contrib.auth`` (``/accounts/login/`` and the admin's) in
the database, and its backend refuses a client that is over its limits
before any password is checked. Its one limit is set to the
``(username, address)`` pair (``CHAT_SIGNIN_FAILURES_PER_USER``), so a
guesser cannot lock the owner of a username out from elsewhere;
``AddressAndUserHandler`` adds one on the address alone
(``CHAT_SIGNIN_FAILURES_PER_ADDRESS``, higher), so that trying many
usernames from one address is bounded too. Both count the failures of the
last ``CHAT_SIGNIN_COOLOFF_MINUTES``.

The address is ``REMOTE_ADDR``, which Daphne sets from the router's
``X-Forwarded-For`` (chat/transport/daphne_proxy.py).
"""

import math

from axes.attempts import get_cool_off_threshold
from axes.backends import AxesBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.db.models import Sum
from django.shortcuts import render

from chat import conf


class SignInBackend(AxesBackend):
    """axes' authentication backend (first in ``AUTHENTICATION_BACKENDS``),
    which refuses a locked-out client before any password is checked.

    Every sign-in a client can reach (``/accounts/login/``, the admin's)
    passes its request to ``authenticate``. A call without one is no
    client's: the shell, or the test client's ``login()``; axes would raise
    ``ValueError`` on it, and here it goes on to the next backend
    unthrottled, as there is no address to count it against."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        """None when the client may go on to the next backend; raises
        ``AxesBackendPermissionDenied`` (a ``PermissionDenied``) when it is
        locked out."""
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class AddressAndUserHandler(AxesDatabaseHandler):
    """axes' database handler, which locks a ``(username, address)`` pair
    out after ``AXES_FAILURE_LIMIT`` failures, plus a lock on the address
    alone after ``CHAT_SIGNIN_FAILURES_PER_ADDRESS`` failures for any
    usernames within the cool-off."""

    def is_locked(self, request, credentials=None):
        """Whether ``request``'s client may not try to sign in now (bool):
        its pair is over axes' limit, or its address over the address's."""
        return super().is_locked(request, credentials) or address_is_locked(request)

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        """Record the failure (axes), and flag the request as locked out
        when its address has now reached its own limit, so that this
        attempt already gets the lockout page."""
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is not None and not request.axes_locked_out and address_is_locked(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials


def address_failures(request):
    """The failed sign-ins (int) from ``request.axes_ip_address`` (set by
    axes) for any usernames within the cool-off."""
    recent = AccessAttempt.objects.filter(
        ip_address=request.axes_ip_address,
        attempt_time__gte=get_cool_off_threshold(request.axes_attempt_time),
    )
    return recent.aggregate(total=Sum("failures_since_start"))["total"] or 0


def address_is_locked(request):
    """Whether ``request``'s address has ``CHAT_SIGNIN_FAILURES_PER_ADDRESS``
    failures or more within the cool-off (bool)."""
    return address_failures(request) >= conf.get("CHAT_SIGNIN_FAILURES_PER_ADDRESS")


def lockout_response(request, credentials=None):
    """The answer to a locked-out sign-in (``AXES_LOCKOUT_CALLABLE``): the
    page registration/locked_out.html, status 429, with ``Retry-After`` the
    cool-off in seconds (the most the client waits: the lock ends that long
    after its last failure)."""
    cool_off_seconds = math.ceil(get_cool_off().total_seconds())
    context = {"cool_off_minutes": math.ceil(cool_off_seconds / 60)}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(cool_off_seconds)
    return response
