"""Reserve and lock a labgrid place through the coordinator, and always give it back.

`reserved_place(coordinator, name)` creates a reservation for the place (labgrid's scheduler queues competing
clients in priority-then-age order), waits until it is allocated, acquires (locks) the place, and yields its link
(resources.PlaceLink). On exit, normal or not (an exception, Ctrl-C, SIGTERM), it releases the place and cancels the
reservation. Everything goes through labgrid's own client session (gRPC), as `labgrid-client reserve --wait`,
`acquire` and `release` do.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import DeviceError, InputError

if TYPE_CHECKING:
    from .resources import PlaceLink

DEFAULT_PORT = 20408  # labgrid's
DEFAULT_COORDINATOR = f"127.0.0.1:{DEFAULT_PORT}"
POLL_S = 0.2  # how often a queued bench asks whether its place is free
RPC_TIMEOUT_S = 15.0
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*")  # a name, an IPv4 or a bracketed IPv6 address


def checked_coordinator(text: str) -> str:
    """`text` as the HOST:PORT to dial (HOST alone: labgrid's port); InputError when it is not an address, so a
    typo is not reported as a coordinator that cannot be reached."""
    host, port = (text, str(DEFAULT_PORT)) if ":" not in text or text.endswith("]") else text.rsplit(":", 1)
    if not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"coordinator '{text}' is not HOST:PORT", f"e.g. {DEFAULT_COORDINATOR}")
    return f"{host}:{port}"


def coordinator_address(given: str | None) -> str:
    """The coordinator to use, checked: the given address, else $LG_COORDINATOR (labgrid's variable), else
    labgrid's default on loopback."""
    return checked_coordinator(given or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR)


class FarmSession:
    """A labgrid client session on one coordinator, driven synchronously (one event loop of its own)."""

    def __init__(self, coordinator: str) -> None:
        try:
            from labgrid.remote.client import ClientSession
        except ImportError:
            raise InputError("labgrid is not installed", "pip install 'edgekit[farm]' (or `make setup`)") from None
        self.address = checked_coordinator(coordinator)
        # labgrid's client logs through logging.error(), which gives the root logger a stderr handler when it has
        # none (a pytest plugin's configure, a script): a root handler of our own keeps its lines, said again by
        # our errors, off the user's stderr, and leaves the root logger as it was after close().
        self._no_basic_config = logging.NullHandler()
        logging.getLogger().addHandler(self._no_basic_config)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # grpc.aio binds the channel to the current loop when it is created
        try:
            self.session = ClientSession(self.address, self.loop)
            self._run(self._start(), f"connecting to the labgrid coordinator at {self.address}")
        except BaseException:
            self.close()
            raise

    async def _start(self) -> None:
        from labgrid.remote.client import ServerError
        try:
            await self.session.start()
        except ServerError:
            raise DeviceError(f"cannot reach the labgrid coordinator at {self.address}",
                              "start one (labgrid-coordinator -l HOST:PORT) or pass --coordinator") from None

    def _run(self, coro: Any, what: str, timeout: float = RPC_TIMEOUT_S) -> Any:
        import grpc
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))
        except asyncio.TimeoutError:
            raise DeviceError(f"labgrid coordinator at {self.address}: {what} timed out after {timeout:g} s") from None
        except grpc.aio.AioRpcError as exc:
            raise DeviceError(f"labgrid coordinator: {what} failed: {exc.details()}") from None

    def sync(self) -> None:
        self._run(self.session.sync_with_coordinator(), "syncing")

    def pause(self, seconds: float) -> None:
        """Wait with the event loop running, so the session's stream and keepalives are served meanwhile."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    @property
    def places(self) -> dict[str, Any]:
        return self.session.places

    def require_place(self, name: str) -> None:
        if name not in self.places:
            known = ", ".join(sorted(self.places)) or "none"
            raise InputError(f"no place '{name}' on the labgrid coordinator at {self.address}",
                             f"places there: {known}")

    def place_resources(self, name: str) -> dict[str, dict[str, Any]]:
        """{class: params} of the resources matched to place `name` (the first of each class)."""
        place = self.places[name]
        found: dict[str, dict[str, Any]] = {}
        for exporter, groups in sorted(self.session.resources.items()):
            for group_name, group in sorted(groups.items()):
                for resource_name, entry in sorted(group.items()):
                    if entry.data and place.hasmatch((exporter, group_name, entry.cls, resource_name)):
                        found.setdefault(entry.cls, dict(entry.params))
        return found

    def call(self, method: str, request: Any, what: str) -> Any:
        return self._run(getattr(self.session.stub, method)(request), what)

    def close(self) -> None:
        try:
            self.loop.run_until_complete(asyncio.wait_for(self._stop(), 5))
        except Exception:  # the coordinator went away: nothing more to tell it
            pass
        finally:
            self.loop.close()
            asyncio.set_event_loop(None)
            logging.getLogger().removeHandler(self._no_basic_config)

    async def _stop(self) -> None:
        await self.session.stop()
        await self.session.close()


def place_profile(coordinator: str | None, name: str) -> str:
    """The edgekit profile place `name` holds, read from the coordinator without reserving or locking it: the
    cheap check that the coordinator answers and the place exists, before a session's slow work."""
    farm = FarmSession(coordinator_address(coordinator))
    try:
        farm.require_place(name)
        from .resources import profile_of
        return profile_of(name, farm.place_resources(name))
    finally:
        farm.close()


@contextlib.contextmanager
def reserved_place(coordinator: str | None, name: str, timeout: float = 600.0,
                   on_wait: Callable[[str], None] | None = None) -> Iterator["PlaceLink"]:
    """Reserve, wait for and lock place `name`; yield its link; release it however the body ends.

    `timeout` bounds the wait for the place; `on_wait(holder)` is called once when the place is busy."""
    farm = FarmSession(coordinator_address(coordinator))  # first: says so when labgrid is missing
    from labgrid.remote.common import Reservation, ReservationState
    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

    from .resources import place_link
    token = None
    acquired = False
    scratch = Path(tempfile.mkdtemp(prefix="edgekit-place-"))
    try:
        farm.require_place(name)
        request = pb2.CreateReservationRequest(filters={"main": pb2.Reservation.Filter(filter={"name": name})},
                                               prio=0.0)
        token = Reservation.from_pb2(farm.call("CreateReservation", request, "reserving").reservation).token
        deadline = time.monotonic() + timeout
        told = False
        while True:
            reply = farm.call("PollReservation", pb2.PollReservationRequest(token=token), "polling the reservation")
            reservation = Reservation.from_pb2(reply.reservation)
            if reservation.state is ReservationState.allocated:
                break
            if reservation.state is not ReservationState.waiting:
                raise DeviceError(f"labgrid reservation for place '{name}' ended: {reservation.state.name}")
            if not told and on_wait is not None:
                farm.sync()
                on_wait(farm.places[name].acquired or "another reservation")
                told = True
            if time.monotonic() > deadline:
                raise DeviceError(f"place '{name}' stayed locked for {timeout:g} s",
                                  "try later, or raise --place-timeout")
            farm.pause(POLL_S)
        farm.call("AcquirePlace", pb2.AcquirePlaceRequest(placename=name), f"locking place '{name}'")
        acquired = True
        farm.sync()
        yield place_link(name, farm.place_resources(name), scratch)
    finally:
        # Each step on its own, so one failure does not skip the next. The reservation goes first: the coordinator
        # clears a place's reservation only at the end of a scheduling pass, so releasing first would leave the
        # next waiting client idle until its periodic pass (15 s).
        with contextlib.suppress(Exception):
            if token is not None:
                farm.call("CancelReservation", pb2.CancelReservationRequest(token=token), "cancelling the reservation")
        with contextlib.suppress(Exception):
            if acquired:
                farm.call("ReleasePlace", pb2.ReleasePlaceRequest(placename=name), f"releasing place '{name}'")
        farm.close()
        shutil.rmtree(scratch, ignore_errors=True)
