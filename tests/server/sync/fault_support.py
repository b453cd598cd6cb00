"""Faults between a laptop and the real server, switched on by the test: every request
still goes over real TCP to the API on 127.0.0.1 (or to a closed port), and each push
that reaches the server is logged in arrival order, so a test can tell which write came
last whatever the laptops were told.

Modes (`Faults.arm`):
- `down`: the server is unreachable (a closed port on 127.0.0.1) for every request
  until disarmed;
- `lost_answer`: the request reaches the server, then the connection drops before the
  answer (the push is applied, the laptop does not know);
- `fail_before`: a 503 without reaching the server;
- `fail_after`: the request is applied, then the answer is a 502;
- `crash`: the request is applied, then the laptop dies (`Crash` leaves `sync_once`
  before anything is acknowledged, as a killed process would).
Every mode but `down` strikes once, at the first request under its path.
"""

from __future__ import annotations

import itertools
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx

from closeplan_desktop.core.sync.transport import Transport

PUSH = "/v1/sync/push"
MODES = ("down", "lost_answer", "fail_before", "fail_after", "crash")
TARGETS = (PUSH, "/v1/sync/pull", "/v1/audit/")


class Crash(Exception):
    """The laptop dies here (the test's stand-in for a killed process)."""


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Arrival:
    """One mutation as it reached the server: its place in arrival order (pushes one
    after another; within a push, in mid order), the device and the mutation sent."""

    order: int
    device_id: str
    mutation: dict[str, Any]


@dataclass
class Arrivals:
    """Every pushed mutation that reached the server, first arrival only (a replay of
    the same mid is a duplicate: it had its effect the first time)."""

    by_mid: dict[tuple[str, int], Arrival] = field(default_factory=dict)
    # Per device, the last mid pushed before the test watched (its setup's changes).
    before: dict[str, int] = field(default_factory=dict)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def record(self, device_id: str, body: dict[str, Any]) -> None:
        for m in body.get("mutations", []):
            key = (device_id, int(m["mid"]))
            if key not in self.by_mid:
                self.by_mid[key] = Arrival(next(self._order), device_id, m)

    def in_order(self) -> list[Arrival]:
        return sorted(self.by_mid.values(), key=lambda a: a.order)


class Faults(httpx.BaseTransport):
    """A real HTTP transport that the test can make fail (see the module's modes)."""

    def __init__(self, device_id: str, arrivals: Arrivals) -> None:
        self.inner = httpx.HTTPTransport()
        self.device_id = device_id
        self.arrivals = arrivals
        self.mode: str | None = None
        self.target = "/"
        self.struck = 0

    def arm(self, mode: str, target: str = "/") -> None:
        assert mode in MODES, mode
        self.mode, self.target = mode, target

    def disarm(self) -> None:
        self.mode = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        mode = self.mode if self.mode and path.startswith(self.target) else None
        if mode is not None and mode != "down":
            self.mode = None  # strikes once
        if mode is not None:
            self.struck += 1
        if mode == "down":
            return self.inner.handle_request(_to(request, closed_port()))
        if mode == "fail_before":
            return httpx.Response(503, json={"error": {"code": "unavailable",
                                                       "message": "Injected outage."}})
        if path == PUSH and request.method == "POST":
            self.arrivals.record(self.device_id, json.loads(request.read()))
        response = self.inner.handle_request(request)
        if mode is None:
            return response
        response.read()  # the server finished the request: it is applied
        response.close()
        if mode == "lost_answer":
            raise httpx.ReadError("connection dropped after the request", request=request)
        if mode == "fail_after":
            return httpx.Response(502, json={"error": {"code": "bad_gateway",
                                                       "message": "Injected failure."}})
        raise Crash

    def close(self) -> None:
        self.inner.close()


def _to(request: httpx.Request, port: int) -> httpx.Request:
    return httpx.Request(request.method, request.url.copy_with(port=port),
                         headers=request.headers, content=request.read())


def faulty_transport(url: str, keyring: Any, device_id: str,
                     arrivals: Arrivals) -> tuple[Transport, Faults]:
    """A laptop's transport to `url` through `Faults` (its refresh token from
    `keyring`, as the app's own)."""
    faults = Faults(device_id, arrivals)
    return Transport(url, keyring, transport=faults), faults
