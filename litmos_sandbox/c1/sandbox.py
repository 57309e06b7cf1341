"""A stand-in for a ConductorOne tenant on loopback: the token endpoint, the BatonService task
API (gRPC, plaintext on 127.0.0.1) and a small JSON control API to drive it.

Used by tests, the demo and benchmarks; production code never imports it. It checks what a
real tenant would check (assertion signature, audience, validity window, bearer tokens,
upload checksums, the c1z format) so that the production client is exercised for real.

    with C1Sandbox(lease_timeout_s=1) as c1:
        client_id, client_secret = c1.register_client()
        task_id = c1.enqueue_sync_full()
        ...  # point TokenSource at c1.token_url and BatonClient at c1.grpc_target
        c1.uploads(task_id), c1.finished(task_id)
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from concurrent import futures
from http.server import ThreadingHTTPServer
from pathlib import Path

import grpc

from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as baton_grpc
from litmos_sandbox.c1.control_http import HttpHandler
from litmos_sandbox.c1.core import SandboxCore
from litmos_sandbox.c1.grpc_service import BatonServicer


class C1Sandbox(SandboxCore):
    """Token endpoint + BatonService + control API on 127.0.0.1 free ports.

    All state sits behind one lock; leases lapse lazily (checked on every call), so there is
    no background thread besides the two servers.
    """

    def start(self) -> C1Sandbox:
        if self._http is not None:
            return self
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="c1-sandbox-"))
        for sub in ("uploads", "incoming", "scratch"):
            (self._data_dir / sub).mkdir(parents=True, exist_ok=True)
        self._start_grpc()
        try:
            self._start_http()
        except BaseException:
            self._stop_grpc()
            raise
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        self._stop_grpc()
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> C1Sandbox:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _start_grpc(self) -> None:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="c1-sandbox-grpc"),
            options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)],
        )
        baton_grpc.add_BatonServiceServicer_to_server(BatonServicer(self), server)
        port = server.add_insecure_port(f"127.0.0.1:{self._grpc_port}")
        if port == 0:
            raise RuntimeError(f"could not bind the sandbox gRPC port 127.0.0.1:{self._grpc_port}")
        server.start()
        self._grpc, self._grpc_bound_port = server, port

    def _stop_grpc(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=0.1).wait(5)
            self._grpc = None

    def _start_http(self) -> None:
        sandbox = self

        class Handler(HttpHandler):
            owner = sandbox

        self._http = ThreadingHTTPServer(("127.0.0.1", self._http_port), Handler)
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(
            # A short poll interval keeps stop() (and so every test teardown) quick.
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="c1-sandbox-http",
            daemon=True,
        )
        self._http_thread.start()
