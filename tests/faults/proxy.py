"""A TCP proxy that a test can cut, to make a server briefly unreachable."""

import asyncio
import threading

from tests.services import free_port


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``.

    ``cut()`` resets every open connection and refuses new ones (they are
    accepted and closed at once), as a network partition would look to the
    client; ``restore()`` lets connections through again.
    """

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.open = True
        self.writers = set()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()

    async def _handle(self, reader, writer):
        if not self.open:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, upstream_writer}
        self.writers |= pair

        async def pipe(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for end in pair:
                    end.transport.abort()
                self.writers -= pair

        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            pass

    def cut(self):
        def abort_all():
            self.open = False
            for writer in list(self.writers):
                writer.transport.abort()

        self.loop.call_soon_threadsafe(abort_all)

    def restore(self):
        self.loop.call_soon_threadsafe(setattr, self, "open", True)

    def stop(self):
        async def shut_down():
            self.open = False
            for writer in list(self.writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shut_down(), self.loop)
        self.thread.join(10)
