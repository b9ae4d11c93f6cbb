"""``manage.py chatreconnect``: have every Daphne close every open
WebSocket with 1012 ("service restart") within 5 s, so that every client
reconnects and catches up, listening clients that send nothing included.

For a deploy that renames Groups or changes the channel sessions while
Daphne keeps running (docs/operations.md, "Deploying a new Group naming"):
a socket that sends frames is moved at its next one anyway, but one that
only listens would otherwise hear nothing until it spoke. It works through
each Daphne's heartbeat (chat/transport/daphne_heartbeat.py), which closes
its sockets when its layer-state marker is gone, so any Daphne of a release
since 2026-11-30 obeys it. Needs the Redis channel layer.
"""

from channels import DEFAULT_CHANNEL_LAYER
from channels.asgi import channel_layers
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat.transport import close_every_socket


class Command(BaseCommand):
    help = "Have every Daphne close its WebSockets with 1012 within 5 s, to reconnect."

    def handle(self, *args, **options):
        if not settings.USE_REDIS:
            raise CommandError("Only a Redis channel layer has Daphnes to ask.")
        layer = channel_layers[DEFAULT_CHANNEL_LAYER].channel_layer
        asked = close_every_socket(layer)
        self.stdout.write(
            "Asked %d Daphne processes to close their sockets with 1012 within 5 s." % asked
        )
