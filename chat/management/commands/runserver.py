"""``manage.py runserver``: Daphne and a worker in one process, as channels
runs them, logging each line once, and the delay server in a thread.

channels' runserver (which WhiteNoise's ``runserver_nostatic`` wraps) hangs
a handler of its own on the ``django.channels`` and Daphne loggers, in a
format of its own, while Daphne's loggers also pass every record on to the
root logger that ``LOGGING`` configures; each Daphne line was printed twice.
This command takes channels' handler off again before serving, so that
every record goes through the one handler and format of ``LOGGING``.

The delay server (``channels.delay``, which a deployment runs as the
Procfile's ``delay`` process type, ``manage.py rundelay``) refuses the
in-memory layer, since it cannot reach other processes; under runserver
there are none, so its loop runs in a thread of this process instead, on
the same in-memory layer and SQLite database, and messages sent later
work with zero configuration (docs/operations.md). ``--noworker`` leaves
it out with the workers.
"""

import logging

from channels import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.delay.worker import Worker as DelayWorker
from channels.log import handler as channels_handler
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as RunserverCommand,
)

from chat import periodic

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


def start_delay_server(layer_alias=DEFAULT_CHANNEL_LAYER):
    """Run channels' delay server loop (``channels.delay.worker.Worker``,
    what ``rundelay`` runs) on the channel layer ``layer_alias`` in a
    daemon thread of this process (``chat.periodic``: started again a
    second after its loop ever ends). Returns the thread."""
    worker = DelayWorker(channel_layer=channel_layers[layer_alias], signal_handlers=False)
    return periodic.start("delay-server", worker.run, 1.0)


class Command(RunserverCommand):
    def inner_run(self, *args, **options):
        use_one_handler()
        if options.get("run_worker", True):
            start_delay_server()
        super().inner_run(*args, **options)
