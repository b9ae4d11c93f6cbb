"""``manage.py chatbench``: a load generator that speaks the chat protocol.

It opens WebSockets to a running chat (``--url``) or to splits it boots
itself (``--sweep``), sends identifiable messages at a fixed rate, times
and counts every delivery, samples each process's CPU, and reports one JSON
line per scenario. docs/benchmark.md explains the scenarios and every field.

Modules, one job each:

- ``scenarios``: the named loads (rooms, members, senders, rate).
- ``client``: the asyncio clients and the send schedule; yields raw counts and timings.
- ``monitor``: per-process CPU and memory samples with psutil.
- ``sweep``: booting the split (Daphne and W workers) for each layer and W.
- ``report``: raw results and samples into the JSON record.
- ``plots``: the PNG figures.
- ``runner``: ties them together; ``run_benchmark`` is the Python API.
- ``round_trips``: what one chat message costs in Redis commands and PostgreSQL
  round trips, hop by hop (``--count-round-trips``).

And what the test suite shares with it:

- ``split``: the Procfile's processes as children, and a production-like environment.
- ``services``: default service URLs, free ports, scratch databases, throwaway
  redis-servers, stored messages.
- ``keeping_up``: the client side of docs/protocol.md "Keeping up", as a state machine.
- ``stock_settings``: the settings of the side-by-side runs on stock asgi_redis.

This is a development-only app: nothing in ``chat`` imports it.
"""
