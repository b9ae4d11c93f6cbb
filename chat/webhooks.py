"""Outgoing webhooks: every new message of a room with a ``webhook_url``,
and since 2026-12-05 every edit and delete of one, is POSTed there as
signed JSON (docs/protocol.md, "Outgoing webhooks").

The path of one delivery:

1. ``enqueue`` (called by ``chat.services.post_message`` after the
   broadcast, and by ``chat.conversations.changes`` after an edit or a
   delete) stores a ``WebhookDelivery`` row, ``PENDING``, and sends
   ``{"delivery": <id>}`` to the ``chat.webhook`` channel. A room without a
   webhook costs a look in a per-process cache and nothing else.
2. ``deliver``, that channel's consumer in a worker, only queues the id on
   this process's delivery pool and returns: the HTTP request runs on one of
   ``POOL_THREADS`` threads, so a slow or dead endpoint never holds the
   worker that also runs the rooms' sockets.
3. A pool thread makes one try (``attempt``) through chat/outbound.py,
   which goes only to an https URL whose host resolves to public addresses
   (checked again on every try, and the connection made to an address it
   checked), within a total deadline. A 2xx answer marks the row
   ``DELIVERED``; a URL the rule refuses marks it ``FAILED`` at once, with
   nothing sent; anything else is tried again after 1, 2, 4, 8 s, and the
   row is ``FAILED`` after ``MAX_ATTEMPTS`` tries, with the last error, in
   words that say nothing of what answered (chat/outbound.py).
4. ``sweep``, run every few seconds by the workers' job sweeper, re-sends
   the deliveries left ``PENDING`` well past their due time: the channel
   layer delivers at most once, and a worker that stops takes its queued
   and in-flight deliveries with it.

So a delivery reaches its endpoint at least once while the endpoint answers
2xx within ``MAX_ATTEMPTS`` tries; a receiver may see one twice.
"""

import datetime
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time

from channels import Channel
from django.core.cache import caches
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from chat import conf, outbound
from chat.models import Room, WebhookDelivery

logger = logging.getLogger(__name__)

# The channel that carries ``{"delivery": <id>}`` to ``deliver`` (routed in
# chat/routing.py; its capacity is in CHANNEL_CAPACITY in chat/settings.py).
DELIVERY_CHANNEL = "chat.webhook"

# The connect timeout of one try, in seconds: ample for a healthy endpoint
# across the internet. The whole try, reading included, ends within
# CHAT_WEBHOOK_DEADLINE_SECONDS (chat/conf.py, 10 s), however its endpoint
# trickles its answer.
TIMEOUT_S = 5

# Tries per delivery before it is FAILED; the waits between them double from
# FIRST_RETRY_S (1, 2, 4, 8 s), so a delivery is given up about 15 s plus
# its tries' own time (at most 5 × the deadline, 10 s) after its first try.
MAX_ATTEMPTS = 5
FIRST_RETRY_S = 1.0

# Threads per worker process that make the HTTP requests, and the most
# deliveries one process holds, queued or waiting for a retry. Beyond that a
# delivery stays PENDING in the database and the sweep sends it again later,
# so a dead endpoint with a busy room cannot grow a worker's memory without
# bound.
POOL_THREADS = 4
MAX_HELD = 1000

# How long a process remembers a room's webhook URL (or that it has none),
# in seconds: the cost of a room without a webhook is one query per room per
# process this often. A URL changed in the admin takes effect within this
# long.
URL_CACHE_S = 5
URL_CACHE_ALIAS = "default"  # the per-process locmem cache
URL_CACHE_KEY = "chat:webhook-url:%d"

# A PENDING delivery this long past its due time was lost (a channel message
# dropped, or a worker stopped with it queued or in flight): ``sweep`` sends
# it again. Far longer than a retry's wait or a try's own time, so the sweep
# never races a live try.
STALE_S = 60
SWEEP_BATCH = 500

# While a try is under way its row is due this far ahead of its start: the
# longest a try takes (CHAT_WEBHOOK_DEADLINE_SECONDS) plus this margin, in
# seconds; a second copy of the delivery that arrives meanwhile leaves it
# alone.
IN_FLIGHT_MARGIN_S = 5
# A copy that arrives up to this early for its row's due time still makes
# the try: the retry timer keeps the monotonic clock, not the wall clock, and
# the rows' times come from several hosts, whose clocks must agree within
# this (NTP does far better).
EARLY_S = 0.5

USER_AGENT = "chat-webhooks"

# The signature headers (docs/protocol.md, "Outgoing webhooks"). The
# timestamped one (added 2026-12-04) lets a receiver refuse a replayed
# delivery; the body-only one is kept for receivers deployed before it, and
# goes in the first release on or after 2027-06-04, as docs/protocol.md
# announces.
SIGNATURE_HEADER = "X-Chat-Signature"
TIMESTAMPED_SIGNATURE_HEADER = "X-Chat-Timestamped-Signature"


def sign(secret, body):
    """The ``X-Chat-Signature`` header's value (str) for ``body`` (bytes,
    exactly as sent) under the room's ``secret`` (str):
    ``"sha256=<64 hex digits>"``, the HMAC-SHA256 of the body keyed with the
    secret's text (its characters as UTF-8 bytes, not the bytes the hex
    spells), as GitHub's ``X-Hub-Signature-256`` is. GitHub's documented
    example holds: the secret ``"It's a Secret to Everybody"`` and the body
    ``b"Hello, World!"`` give
    ``sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17``.

    It signs the body alone, so a captured delivery verifies for ever:
    ``sign_timestamped`` is its successor, and this header goes on
    2027-06-04 (docs/protocol.md)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def sign_timestamped(secret, body, timestamp):
    """The ``X-Chat-Timestamped-Signature`` header's value (str) for
    ``body`` (bytes, exactly as sent) sent at ``timestamp`` (int, Unix
    seconds) under the room's ``secret`` (str):
    ``"t=<timestamp>,v1=<64 hex digits>"``, the HMAC-SHA256 of
    ``b"<timestamp>." + body`` keyed with the secret's text as UTF-8 (the
    scheme of Stripe's ``Stripe-Signature``). Signing the time with the body
    lets a receiver refuse a captured delivery sent again later."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (timestamp, digest)


def body_of(room, message, event=WebhookDelivery.MESSAGE):
    """The delivery's body (bytes) for ``event`` (a ``WebhookDelivery``
    event) of ``message``: the JSON of ``{"type": "message", "event":
    "message", "room": <label>, "message": Message.as_dict()}`` for a new
    message; for an edit or a delete (added 2026-12-05), ``"type":
    "change"`` and ``"event": "edit"`` or ``"delete"``, so that a receiver
    written before, which ignores types it does not know, never takes a
    change for a new message. ``message`` is the message as it is when
    the body is made: a delivery made after a delete carries the
    tombstone, whatever its event."""
    payload = {
        "type": "message" if event == WebhookDelivery.MESSAGE else "change",
        "event": event,
        "room": room.label,
        "message": message.as_dict(),
    }
    return json.dumps(payload).encode("utf-8")


def webhook_url(room_id):
    """The webhook URL (str) of the room ``room_id`` (int), "" for none or
    for no such room. Read through the per-process cache, so it may be up to
    ``URL_CACHE_S`` seconds old. Raises ``django.db.Error`` when the
    database cannot be reached."""
    cache = caches[URL_CACHE_ALIAS]
    key = URL_CACHE_KEY % room_id
    url = cache.get(key)
    if url is None:
        url = Room.objects.filter(pk=room_id).values_list("webhook_url", flat=True).first() or ""
        cache.set(key, url, URL_CACHE_S)
    return url


def enqueue(room, message, event=WebhookDelivery.MESSAGE):
    """Queue ``event`` (``WebhookDelivery.MESSAGE``, ``EDIT`` or
    ``DELETE``) of ``message`` (a stored ``Message``) for ``room``'s
    webhook, if it has one: a ``WebhookDelivery`` row (``PENDING``) and
    ``{"delivery": <id>}`` on ``chat.webhook``, sent once the row is
    committed. ``room`` is a ``Room``; only its ``pk`` is read, so the
    partial room of a channel session will do.

    Returns the ``WebhookDelivery``, or None when the room has no webhook or
    something failed. Never raises: a failure is logged, and neither the
    message nor its broadcast depends on it; a row stored whose channel
    message was lost is sent again by ``sweep``.

    The channel message goes with ``immediately=True``. Channels 1.x would
    otherwise hold it until the consumer that posted the message returns,
    and send it there with retries of its own on a full channel, for up to
    2 s, raising out of that consumer if they fail: the chat would wait for
    its webhooks. Sent at once, a full channel raises here, where it is
    logged, and the send behaves the same wherever ``post_message`` runs (a
    consumer, a view, a command, a job's thread).
    """
    try:
        url = webhook_url(room.pk)
        if not url:
            return None
        # A savepoint when the caller has a transaction open, so that a
        # failure here cannot spoil the caller's transaction.
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                room_id=room.pk, message_id=message.pk, url=url, event=event
            )
        # After the commit, so that the consumer finds the row; at once
        # when no transaction is open.
        transaction.on_commit(lambda: _send(delivery.pk))
        return delivery
    except Exception:  # noqa: BLE001 - the chat must not wait for, or fail with, its webhooks
        logger.exception("Could not queue the webhook delivery of message %s", message.pk)
        return None


def deliver(message):
    """The ``chat.webhook`` consumer: ``message.content`` is
    ``{"delivery": <id>}``. Queues the delivery on this process's pool and
    returns at once; the pool makes the request. A delivery that finds the
    pool holding ``MAX_HELD`` already stays ``PENDING`` for ``sweep``."""
    try:
        delivery_id = int(message.content["delivery"])
    except (KeyError, TypeError, ValueError):
        logger.warning("Ignoring a malformed %s message: %r", DELIVERY_CHANNEL, message.content)
        return
    if not _pool().put(delivery_id):
        logger.warning(
            "Webhook delivery %d left for the sweep: this process holds %d already",
            delivery_id,
            MAX_HELD,
        )


def backoff(attempts):
    """The wait (float, s) after a delivery's ``attempts``-th failed try:
    1, 2, 4, 8 s for the 1st to 4th."""
    return FIRST_RETRY_S * 2 ** (attempts - 1)


def attempt(delivery_id):
    """Make one try of the delivery ``delivery_id`` (int): POST its body to
    its URL and record the outcome on the row (``attempts``,
    ``response_status``, ``error``, and ``next_attempt_at``, or ``status``
    and ``finished_at`` when it is over).

    A URL that chat/outbound.py's rule refuses (not https, or an address
    that is not public) fails the delivery at once, with nothing sent and
    the refusal's fixed text as its ``error``.

    Returns the wait (float, s) before the next try, or None when there is
    none for the caller to make: delivered, failed for good, or not this
    caller's (no such row, not ``PENDING``, not due yet, or another process
    claimed this try first). Raises ``django.db.Error`` when the database
    cannot be reached; the row then stays ``PENDING`` for ``sweep``.

    Each try is claimed with one conditional UPDATE on ``attempts``, so two
    copies of one delivery (a sweep's and a late original) make one try,
    not two.
    """
    delivery = (
        WebhookDelivery.objects.select_related("room", "message__room", "message__upload")
        .prefetch_related("message__reactions")
        .filter(pk=delivery_id)
        .first()
    )
    started = timezone.now()
    if (
        delivery is None
        or delivery.status != WebhookDelivery.PENDING
        or delivery.next_attempt_at > started + datetime.timedelta(seconds=EARLY_S)
    ):
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.PENDING, attempts=delivery.attempts
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=started
        + datetime.timedelta(
            seconds=conf.get("CHAT_WEBHOOK_DEADLINE_SECONDS") + IN_FLIGHT_MARGIN_S
        ),
    )
    if not claimed:
        return None
    attempts = delivery.attempts + 1
    body = body_of(delivery.room, delivery.message, delivery.event)
    outcome = _post(delivery.url, body, delivery.room.webhook_secret, delivery_id)
    finished = timezone.now()
    fields = {"response_status": outcome.status, "error": outcome.error}
    delay = None
    if outcome.ok:
        fields.update(status=WebhookDelivery.DELIVERED, finished_at=finished)
    elif outcome.refused:
        # Final: the URL is refused whatever the try, until it is changed
        # and the delivery sent again from the admin.
        fields.update(status=WebhookDelivery.FAILED, finished_at=finished)
        logger.warning(
            "Webhook delivery %d to %s refused: %s", delivery_id, delivery.url, outcome.error
        )
    elif attempts >= MAX_ATTEMPTS:
        fields.update(status=WebhookDelivery.FAILED, finished_at=finished)
        logger.warning(
            "Webhook delivery %d to %s failed after %d tries: %s",
            delivery_id,
            delivery.url,
            attempts,
            outcome.error,
        )
    else:
        delay = backoff(attempts)
        fields["next_attempt_at"] = finished + datetime.timedelta(seconds=delay)
    WebhookDelivery.objects.filter(pk=delivery_id).update(**fields)
    return delay


def sweep(now=None):
    """Send again, on ``chat.webhook``, every ``PENDING`` delivery due more
    than ``STALE_S`` seconds before ``now`` (an aware datetime; default:
    the present), at most ``SWEEP_BATCH`` of them, oldest due first; each
    is then due ``now``. Returns how many were sent (int).

    Safe to run in every worker at once: each row is taken with a
    conditional UPDATE, so only one process sends it. Raises
    ``django.db.Error`` when the database cannot be reached.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=STALE_S)
    stale = WebhookDelivery.objects.filter(
        status=WebhookDelivery.PENDING, next_attempt_at__lt=cutoff
    )
    sent = 0
    for delivery_id in stale.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH]:
        taken = stale.filter(pk=delivery_id).update(next_attempt_at=now)
        if taken and _send(delivery_id):
            sent += 1
    if sent:
        logger.info("Sent %d stale webhook deliveries again", sent)
    return sent


def redeliver(deliveries):
    """Deliver again the ``FAILED`` ones among ``deliveries`` (a
    ``WebhookDelivery`` queryset): each is reset to ``PENDING`` with no
    tries made, addressed to its room's current webhook URL, and sent on
    ``chat.webhook``. A delivery whose room has no webhook any more is left
    as it is. Returns how many were sent (int)."""
    sent = 0
    failed = deliveries.filter(status=WebhookDelivery.FAILED).select_related("room")
    for delivery in failed:
        url = delivery.room.webhook_url
        if not url:
            continue
        reset = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.FAILED
        ).update(
            status=WebhookDelivery.PENDING,
            url=url,
            attempts=0,
            response_status=None,
            error="",
            next_attempt_at=timezone.now(),
            finished_at=None,
        )
        if reset and _send(delivery.pk):
            sent += 1
    return sent


def ended_before(before):
    """The deliveries that were delivered or given up (``FAILED``) before
    ``before`` (an aware datetime): a queryset of ``WebhookDelivery``.
    Pending ones are never among them."""
    return WebhookDelivery.objects.filter(
        status__in=(WebhookDelivery.DELIVERED, WebhookDelivery.FAILED), finished_at__lt=before
    )


def _send(delivery_id):
    """Send ``{"delivery": delivery_id}`` to ``chat.webhook`` now; True if
    sent. A failure (a full channel, Redis unreachable) is logged, not
    raised: the row stays ``PENDING`` and ``sweep`` sends it again."""
    try:
        Channel(DELIVERY_CHANNEL).send({"delivery": delivery_id}, immediately=True)
    except Exception:  # noqa: BLE001 - ChannelFull, or Redis down; the sweep sends it again
        logger.exception("Could not send webhook delivery %d; the sweep will", delivery_id)
        return False
    return True


def _post(url, body, secret, delivery_id):
    """POST ``body`` (bytes) to ``url`` through chat/outbound.py, signed
    with ``secret`` both ways (``sign`` and ``sign_timestamped``, stamped
    now). Returns its ``outbound.Outcome``: the HTTP status (int, or None
    when none came), "" or a fixed error text, and whether the URL was
    refused."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Chat-Delivery": str(delivery_id),
        SIGNATURE_HEADER: sign(secret, body),
        TIMESTAMPED_SIGNATURE_HEADER: sign_timestamped(secret, body, int(time.time())),
    }
    return outbound.post(
        url,
        body,
        headers,
        deadline_s=conf.get("CHAT_WEBHOOK_DEADLINE_SECONDS"),
        connect_timeout_s=TIMEOUT_S,
    )


class DueQueue:
    """Delivery ids, each due at a time of its own, for the pool's threads;
    holds at most ``maxsize``. A retry is the same id put back with a
    delay."""

    def __init__(self, maxsize):
        self.maxsize = maxsize
        self._heap = []  # (due, tie-breaker, item), due on time.monotonic()
        self._order = itertools.count()
        self._condition = threading.Condition()

    def __len__(self):
        with self._condition:
            return len(self._heap)

    def put(self, item, delay=0.0):
        """Add ``item``, due in ``delay`` seconds. Returns False, adding
        nothing, when the queue holds ``maxsize`` already."""
        with self._condition:
            if len(self._heap) >= self.maxsize:
                return False
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), item))
            self._condition.notify()
            return True

    def get(self):
        """Remove and return the item due first, once it is due; blocks."""
        with self._condition:
            while True:
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._condition.wait(wait)


_pool_lock = threading.Lock()
_queue = None


def _pool():
    """This process's ``DueQueue`` of deliveries, with its ``POOL_THREADS``
    threads started on first use.

    Daemon threads, not a ``ThreadPoolExecutor``: Python waits at exit for an
    executor to finish all its queued work, which for a dead endpoint's
    backlog could take many minutes, while daemon threads end with the
    worker. What they held stays ``PENDING`` in the database, for ``sweep``.
    """
    global _queue
    with _pool_lock:
        if _queue is None:
            queue = DueQueue(MAX_HELD)
            for number in range(POOL_THREADS):
                threading.Thread(
                    target=_serve, args=(queue,), name="chat-webhook-%d" % number, daemon=True
                ).start()
            _queue = queue
        return _queue


def _serve(queue):
    """A pool thread: make the tries of the deliveries ``queue`` hands out,
    and put each back with its wait when another try is due."""
    while True:
        delivery_id = queue.get()
        # Each try is a unit of work, like a request: a connection that broke
        # or outlived CONN_MAX_AGE is closed before and after it, the same
        # connection is reused otherwise.
        close_old_connections()
        try:
            delay = attempt(delivery_id)
        except Exception:  # noqa: BLE001 - an outage must not end the thread
            logger.exception(
                "Webhook delivery %d: the try failed; the sweep will resend it", delivery_id
            )
            delay = None
        finally:
            close_old_connections()
        if delay is not None and not queue.put(delivery_id, delay):
            logger.warning("Webhook delivery %d: its retry is left for the sweep", delivery_id)
