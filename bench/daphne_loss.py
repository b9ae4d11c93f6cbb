"""How long a member of a Daphne killed with SIGKILL stays in the others'
rosters: ``python -m bench.daphne_loss [ROUNDS]``.

Boots the split (one Daphne, two workers) on a scratch database and a Redis
prefix of its own, then, ROUNDS times (default 3): starts a second Daphne,
puts guest "ann" on the first and guest "vic" on the second in one room,
kills the second with SIGKILL and times until ann's roster drops vic. Prints
one line per round and the delays in seconds. docs/architecture.md
("Presence") gives the figures and the bound they come from.
"""

import os
import signal
import sys
import time
import uuid

import django


def main(rounds=3):
    """Run ``rounds`` (int) rounds; returns the delays (list of float, s)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat.settings")
    django.setup()
    from bench import services
    from bench.chat_client import ChatClient, guest_sessions
    from bench.split import Split, production_env, running

    tag = uuid.uuid4().hex[:6]
    delays = []
    database = "daphne_loss_%s" % tag
    with services.scratch_database(services.default_postgres_url(), database) as url:
        env = production_env(url, services.default_redis_url(), "daphne-loss-%s:" % tag)
        with running(env, workers=2) as split:
            ann_key, vic_key = guest_sessions(dict(os.environ, **env), "ann", "vic")
            for n in range(rounds):
                label = "loss-%d" % n
                with Split(env) as second:
                    second.start_web()
                    second.wait_ready()
                    ann = ChatClient(split, label, session_key=ann_key)
                    ChatClient(second, label, session_key=vic_key)
                    ann.wait_for_roster({"ann", "vic"}, 0)
                    killed = time.monotonic()
                    second.kill(second.web, signal.SIGKILL)
                    ann.wait_for_roster({"ann"}, 0, timeout=120)
                    delays.append(time.monotonic() - killed)
                    ann.close()
                print("round %d: vic left the roster %.1f s after the kill" % (n + 1, delays[-1]))
        services.delete_redis_prefix(services.default_redis_url(), "daphne-loss-%s:" % tag)
    print("delays (s): %s" % ", ".join("%.1f" % delay for delay in delays))
    return delays


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
