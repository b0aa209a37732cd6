"""The report notebook's kernel, started early: while the analysis runs, the kernel
starts and imports what the notebook's first cells import, so that on a machine with
a second core its start-up and imports (about 2 s of a demo report) overlap the
analysis instead of following it. papermill then runs the notebook on that kernel
(``km=``), and :meth:`WarmKernel.close` shuts it down.

The warm-up binds no name in the kernel and is not in its history (``silent``): the
notebook's cells, their numbers and their outputs are those of a fresh kernel.
"""

from __future__ import annotations

import logging
import os
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
            left to the garbage collector, which warns)."""

            def client(self, **kwargs):
                made = super().client(**kwargs)
                clients.append(made)
                return made

        clients: list = []
        self._clients = clients
        self.km = Manager(kernel_name="python3")
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

    def close(self) -> None:
        """Shut the kernel down (papermill leaves a kernel it was given running)."""
        from jupyter_core.utils import run_sync

        self.release_client()
        for made in self._clients:
            made.stop_channels()  # and destroys the ZMQ context it made
        self._clients.clear()
        try:
            if run_sync(self.km.is_alive)():
                run_sync(self.km.shutdown_kernel)(now=True)
        except RuntimeError as exc:  # already gone: nothing to stop
            log.debug("report kernel shut-down: %s", exc)
        finally:
            run_sync(self.km.cleanup_resources)()


def start(cwd: Path, env: dict[str, str] | None = None) -> WarmKernel | None:
    """A :class:`WarmKernel` in ``cwd`` (``env`` added to its environment), or None when it
    cannot be started here (papermill then starts its own kernel, and reports a failure as
    it always does)."""
    try:
        return WarmKernel(cwd, env)
    except Exception as exc:  # noqa: BLE001 - any failure: papermill's own start reports it
        log.debug("no early report kernel: %s", exc)
        return None
