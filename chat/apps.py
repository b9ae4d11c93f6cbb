from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self):
        from channels.signals import worker_ready

        from chat.transport import install_django_fixes

        # Security fixes published for Django after 2.2.28 that patch its
        # modules in place (docs/security.md); every process, so that the
        # workers, which run the views, have them.
        install_django_fixes()

        # Every process that runs consumers (runworker, and runserver's
        # worker threads) sends this; the flusher starts once per process.
        worker_ready.connect(_start_presence_flusher, dispatch_uid="chat-presence-flusher")
        worker_ready.connect(_start_worker_heartbeat, dispatch_uid="chat-worker-heartbeat")
        worker_ready.connect(_start_job_sweeper, dispatch_uid="chat-job-sweeper")
        worker_ready.connect(_start_live_counts, dispatch_uid="chat-live-counts")
        worker_ready.connect(_start_scheduled_sweeper, dispatch_uid="chat-scheduled-sweeper")

        # In every process: sign-outs happen in the workers' views, and a
        # user is deactivated wherever it is saved (the admin, a shell).
        from chat import revocation

        revocation.connect_signals()


def _start_presence_flusher(sender, **kwargs):
    from chat import presence

    presence.start_flusher()


def _start_worker_heartbeat(sender, **kwargs):
    from chat.transport import start_worker_heartbeat

    start_worker_heartbeat()


def _start_job_sweeper(sender, **kwargs):
    from chat.images import thumbnails

    thumbnails.start_sweeper()


def _start_live_counts(sender, **kwargs):
    from chat import live_counts

    live_counts.start_flusher()


def _start_scheduled_sweeper(sender, **kwargs):
    from chat import scheduling

    scheduling.start_sweeper()
