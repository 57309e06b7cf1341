"""The C1 sandbox without its servers: tokens, the task queue, BatonService's behaviour,
faults, and the addresses the servers were given.

The gRPC servicer (grpc_service.py) and the HTTP handler (control_http.py) serve a
SandboxCore; sandbox.py starts them around one. So the arrows point one way:
sandbox -> servers -> core -> mixins -> state.
"""

from __future__ import annotations

from typing import Any

from litmos_pipeline.c1.credentials import TOKEN_PATH, TokenSource
from litmos_sandbox.c1.baton import BatonMixin
from litmos_sandbox.c1.tasks import TasksMixin
from litmos_sandbox.c1.tokens import TokensMixin


class SandboxCore(TokensMixin, TasksMixin, BatonMixin):
    """All the sandbox's state and behaviour; C1Sandbox adds the two servers."""

    @property
    def api_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the C1 sandbox is not running")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.api_url + TOKEN_PATH

    @property
    def grpc_target(self) -> str:
        if self._grpc is None:
            raise RuntimeError("the C1 sandbox is not running")
        return f"127.0.0.1:{self._grpc_bound_port}"

    def token_source(self, client_id: str, client_secret: str, **kwargs: Any) -> TokenSource:
        return TokenSource(client_id, client_secret, self.token_url, **kwargs)
