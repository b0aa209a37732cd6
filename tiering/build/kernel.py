"""The report notebook's kernel, started early: while the analysis runs, the kernel
starts and imports what the notebook's first cells import, so that on a machine with
a second core its start-up and imports (about 2 s of a demo report) overlap the
analysis instead of following it. papermill then runs the notebook on that kernel
(``km=``), and :meth:`WarmKernel.close` shuts it down.

The warm-up binds no name in the kernel and is not in its history (``silent``): the
notebook's cells, their numbers and their outputs are those of a fresh kernel.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: Arguments of every report kernel: its own start-up log is not for users (see
#: ``tiering.build.report``), and its history stays in memory, as nbclient asks for the
#: kernels it starts itself.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL", "--HistoryManager.hist_file=:memory:")

#: What the report notebook imports before its first section (its first cell, the
#: analysis it loads, the charts of its sections).
WARM_UP_MODULES = (
    "tiering.analysis.pipeline",
    "tiering.params",
    "tiering.present.narrative",
    "tiering.present.charts",
)


class WarmKernel:
    """A started ``python3`` kernel importing :data:`WARM_UP_MODULES` (``km``: its
    ``jupyter_client`` AsyncKernelManager, for papermill)."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None):
        from jupyter_client import BlockingKernelClient
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        class Manager(AsyncKernelManager):
            """Keeps the clients it makes: papermill leaves the client of a kernel it was
            given open, and :meth:`WarmKernel.close` closes it (else its ZMQ context is
            left to the garbage collector, which warns). They are
            :func:`ready_client` clients."""

            def client(self, **kwargs):
                made = super().client(**kwargs)
                clients.append(made)
                return made

        clients: list = []
        self._clients = clients
        self._lock = threading.Lock()
        self._closing: threading.Thread | None = None
        self._closed = threading.Event()
        self.km = Manager(kernel_name="python3", client_factory=ready_client())
        # ``env``: added to this process's environment (which the kernel gets as it is)
        run_sync(self.km.start_kernel)(
            extra_arguments=list(KERNEL_ARGUMENTS), cwd=str(cwd), env={**os.environ, **(env or {})}
        )
        # a client of its own, only to send the imports: its requests wait in the kernel's
        # socket until the kernel is up, and its channels stay open until the notebook
        # runs (closing them at once could drop a request not yet delivered)
        self._client = BlockingKernelClient()
        self._client.load_connection_info(self.km.get_connection_info())
        self._client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        names = ", ".join(repr(m) for m in WARM_UP_MODULES)
        self._client.execute(
            f"[__import__('importlib').import_module(m) for m in ({names})] and None",
            silent=True,
            store_history=False,
        )

    def release_client(self) -> None:
        """Close the warm-up client (before papermill connects its own)."""
        if self._client is not None:
            self._client.stop_channels()
            self._client = None

    def close_soon(self) -> None:
        """Start shutting the kernel down in a thread of its own: the notebook has run,
        and nothing need wait for the kernel's end (a tenth of a second) but
        :meth:`close`."""
        with self._lock:
            if self._closing is not None:
                return
            self._closing = threading.Thread(
                target=self._close, name="tiering-kernel-close", daemon=True
            )
            try:
                self._closing.start()
            except RuntimeError:  # no thread to be had: shut it down here
                self._close()

    def close(self) -> None:
        """Shut the kernel down (papermill leaves a kernel it was given running), or wait
        until :meth:`close_soon` has; also through Ctrl-C, which is raised once the
        kernel is gone (a process ending at once would leave it running). Safe to call
        again."""
        from tiering import interrupt

        self.close_soon()
        interrupt.wait_through(self._closed)

    def _close(self) -> None:
        try:
            asyncio.run(self._shut_down())
        except Exception as exc:  # noqa: BLE001 - the report is made; the kernel's end is not its
            log.warning("The report notebook's kernel may still be running: %s", exc)
        finally:
            self._closed.set()

    async def _shut_down(self) -> None:
        """Close the clients, stop the kernel, remove its connection file: in an event
        loop of the closing thread's own (``asyncio.run``: closed after it)."""
        from jupyter_core.utils import ensure_async

        try:
            self.release_client()
            for made in self._clients:
                made.stop_channels()  # and destroys the ZMQ context it made
            self._clients.clear()
        finally:
            try:
                if await ensure_async(self.km.is_alive()):
                    await ensure_async(self.km.shutdown_kernel(now=True))
            except RuntimeError as exc:  # already gone: nothing to stop
                log.debug("report kernel shut-down: %s", exc)
            finally:
                await ensure_async(self.km.cleanup_resources())


@functools.cache
def ready_client() -> type:
    """jupyter_client's asynchronous kernel client, with a :meth:`wait_for_ready` that
    ends as soon as the kernel is ready, not 0.2 s later.

    jupyter_client's own wait sends ``kernel_info`` until it has the reply and a message
    on IOPub (the proof that IOPub is connected), then reads IOPub until it has been
    quiet for 0.2 s: a fixed 0.2 s before papermill runs the first cell, on the report's
    critical path. This one, once it has a reply, reads IOPub up to the ``idle`` status
    of a ``kernel_info`` request it sent: the kernel's last message about that request.
    (A kernel slower than a second to start gets a second request, whose messages may
    be left: nbclient ignores every message that is not about the cell it runs.) The
    rest is jupyter_client's: the same requests, the same timeout and errors.
    """
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_core.utils import ensure_async

    class ReadyClient(AsyncKernelClient):
        #: the ``kernel_info`` request whose ``idle`` status ended :meth:`wait_for_ready`
        ready_request: str | None = None

        async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            sent: set[str] = set()
            while True:
                sent.add(self.kernel_info())
                try:
                    reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
                except Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    if await self._until_idle(sent, deadline):
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

        async def _until_idle(self, sent: set[str], deadline: float) -> bool:
            """Read IOPub up to the ``idle`` status of one of the ``sent`` requests (any:
            a first one's may have gone out before IOPub was connected); False when
            IOPub stays silent for 0.2 s (not yet connected: ask again), as
            jupyter_client decides it."""
            while True:
                wait = min(0.2, max(deadline - time.monotonic(), 0.0))
                try:
                    msg = await ensure_async(self.iopub_channel.get_msg(timeout=wait))
                except Empty:
                    return False
                parent = msg["parent_header"].get("msg_id")
                if (
                    msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"
                    and parent in sent
                ):
                    self.ready_request = parent
                    return True

    return ReadyClient


def start(cwd: Path, env: dict[str, str] | None = None) -> WarmKernel | None:
    """A :class:`WarmKernel` in ``cwd`` (``env`` added to its environment), or None when it
    cannot be started here (papermill then starts its own kernel, and reports a failure as
    it always does)."""
    try:
        return WarmKernel(cwd, env)
    except Exception as exc:  # noqa: BLE001 - any failure: papermill's own start reports it
        log.debug("no early report kernel: %s", exc)
        return None
