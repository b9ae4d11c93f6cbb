"""``manage.py runserver``: Daphne and a worker in one process, as channels
runs them, logging each line once.

channels' runserver (which WhiteNoise's ``runserver_nostatic`` wraps) hangs
a handler of its own on the ``django.channels`` and Daphne loggers, in a
format of its own, while Daphne's loggers also pass every record on to the
root logger that ``LOGGING`` configures; each Daphne line was printed twice.
This command takes channels' handler off again before serving, so that
every record goes through the one handler and format of ``LOGGING``.
"""

import logging

from channels.log import handler as channels_handler
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as RunserverCommand,
)

# The loggers channels' setup_logger gives its handler (channels/log.py).
CHANNELS_LOGGERS = (
    "django.channels",
    "daphne.ws_protocol",
    "daphne.http_protocol",
    "daphne.server",
)


def use_one_handler():
    """Remove channels' runserver handler from the loggers it was added to,
    and let ``django.channels`` propagate to the root handler again. Levels
    set from ``--verbosity`` are kept. Returns None."""
    for name in CHANNELS_LOGGERS:
        logging.getLogger(name).removeHandler(channels_handler)
    logging.getLogger("django.channels").propagate = True


class Command(RunserverCommand):
    def inner_run(self, *args, **options):
        use_one_handler()
        super().inner_run(*args, **options)
