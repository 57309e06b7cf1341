"""The Litmos sandbox: a generated tenant (``tenant/``) served over HTTP like Litmos.

Rooms: ``tenant/`` (the data), ``request.py``/``bodies.py`` (reading a call),
``endpoints.py`` and ``routes.py`` (what each path does), ``delta.py`` (the delta
queries and their controls), ``wire.py`` (XML/JSON), ``faults.py`` and ``traffic.py``
(injected faults, rate limit, stats), ``app.py`` (one request end to end, without the
socket), ``server.py`` (HTTP on loopback), ``cli.py``.
"""

from litmos_sandbox.litmos.app import BASE_PATH, CONTROL_PREFIX, DEFAULT_API_KEY, LitmosApp
from litmos_sandbox.litmos.cli import main
from litmos_sandbox.litmos.faults import FAULT_KINDS, FaultConfig, FaultRule
from litmos_sandbox.litmos.routes import ROUTE_KINDS, ROUTES
from litmos_sandbox.litmos.server import LitmosSandbox
from litmos_sandbox.litmos.wire import Response, xml_list, xml_one

__all__ = [
    "BASE_PATH", "CONTROL_PREFIX", "DEFAULT_API_KEY", "FAULT_KINDS", "ROUTES", "ROUTE_KINDS",
    "FaultConfig", "FaultRule", "LitmosApp", "LitmosSandbox", "Response", "main", "xml_list",
    "xml_one",
]
