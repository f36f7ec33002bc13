"""`edge-admin`: serve the API, run projections in their own process, rebuild read models."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import uuid
from asyncio import Event
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from adapters.migrate import DatabaseTooNewError
from adapters.pg_datastore import DatabaseUnavailableError
from entrypoints import logs
from entrypoints.settings import Settings, SettingsError
from projections.versioning import ReadModelBusyError, ReadModelTooNewError

if TYPE_CHECKING:
    from entrypoints.bootstrap import Services

# Below this limit of open files `serve` warns: about half as many agents would use it up.
FEW_OPEN_FILES = 4096


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    if getattr(args, "host", None) is not None:
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    settings = Settings.from_env(None, **overrides)
    if not logging.getLogger().handlers:  # run as a program, not inside a host's logging
        logs.configure(settings.log_format)  # every command logs as serve does (JSON or text)
    return settings


def serve(args: argparse.Namespace) -> int:
    """Listens first, then builds and joins: a port in use (or an ADMIN_ID another running
    admin holds) stops this process with one line and exit code 1, having recorded nothing."""
    # Settings first: a bad one is told before the whole app is imported (seconds on a busy
    # machine).
    overrides = {"run_projections": False} if args.no_projections else {}
    settings = _settings(args, **overrides)

    import dataclasses

    import uvicorn

    from entrypoints.app import create_app
    from entrypoints.bootstrap import build_services
    from entrypoints.listen import (
        HeadDeadline,
        ListenError,
        listen,
        open_files_limit,
        watch_open_files,
        where,
    )
    from entrypoints.workers.membership import AdminIdInUseError, claim_admin_id

    logs.configure(settings.log_format, args.log_level, settings.access_log)
    files = open_files_limit()
    watch_open_files(files)
    if files < FEW_OPEN_FILES:
        logging.getLogger(__name__).warning(
            "this process may open only %d files: each connected agent holds one or two "
            "connections, so fewer than about %d agents can connect (raise LimitNOFILE or "
            "ulimit -n)", files, files // 2)
    try:
        sockets = listen(settings.host, settings.port)
    except ListenError as exc:
        print(f"edge-admin: {exc}", file=sys.stderr)
        return 1
    if settings.port == 0:  # the port the system chose names this admin and its URL
        settings = dataclasses.replace(settings, port=sockets[0].getsockname()[1])
    services = build_services(settings)
    try:
        claim_admin_id(services)
    except AdminIdInUseError as exc:
        print(f"edge-admin: {exc}", file=sys.stderr)
        services.close()
        return 1
    if settings.generated_api_key:
        print(f"edge-admin: API_KEY not set; this run accepts the generated key {settings.api_key}",
              file=sys.stderr)
    logging.getLogger(__name__).info("listening on http://%s", where(settings.host, settings.port))
    app = create_app(settings, services)
    config = uvicorn.Config(app, log_level=args.log_level,
                            access_log=False, log_config=None,
                            timeout_keep_alive=settings.http_keep_alive, http=HeadDeadline,
                            # Open event streams would otherwise hold shutdown until clients leave.
                            timeout_graceful_shutdown=3)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stopping = getattr(app.state, "stopping", None)
            if stopping is not None:  # long polls answer now (entrypoints/http/app.py Stopping)
                stopping.set()
            super().handle_exit(sig, frame)

    Server(config).run(sockets=sockets)
    return 0


def projections_run(args: argparse.Namespace) -> int:
    from entrypoints.bootstrap import build_services

    services = build_services(_settings(args, run_projections=True))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        services.projector.catch_up()
    except Exception:  # noqa: BLE001 - the running projector reports it (readyz, status)
        logging.getLogger(__name__).debug("catching up stopped at a failing event")
    services.projector.start()
    services.listen()  # other processes' commits wake it (it polled every 200 ms before)
    print(f"edge-admin: projections running at position {services.projector.position}",
          file=sys.stderr)
    stop.wait()
    services.close()
    return 0


def projections_status(args: argparse.Namespace) -> int:
    """Where the read model stands, and the event it is stuck at if any (exit code 1 then)."""
    import json

    from entrypoints.bootstrap import build_services

    services = build_services(_settings(args, run_projections=False))
    try:
        worker = services.projector
        failure = worker.current_failure()
        position = worker.applied()
        head = services.store.recorder.max_notification_id() or 0
    finally:
        services.close()
    name = worker.projection.name
    if args.json:
        print(json.dumps({"projection": name, "position": position, "head": head,
                          "behind": max(0, head - position),
                          "failure": failure.as_dict() if failure else None}))
    elif failure is None:
        print(f"projection {name}: ok, at {position} of {head} ({max(0, head - position)} behind)")
    else:
        print(f"projection {name}: STUCK at {failure.describe_event()} since "
              f"{failure.since_iso()}, {failure.attempts} attempts\n"
              f"  error: {failure.error}\n"
              f"  at {position} of {head}; writes are refused until a release that can apply "
              f"event {failure.notification_id} is running")
    return 0 if failure is None else 1


def migrate(args: argparse.Namespace) -> int:
    """Applies the pending migrations (every command does at start; this does only that)."""
    from entrypoints.bootstrap import migrate_database

    report = migrate_database(_settings(args))
    if report is None:
        print("memory:// keeps no tables: nothing to migrate")
    elif report.applied:
        print(f"applied {len(report.applied)} migration(s): {', '.join(report.applied)}; "
              f"{report.total} in all")
    else:
        print(f"up to date: {report.total} migration(s) applied")
    return 0


Work = Callable[["Services", Event], Awaitable[None]]


def _until_signalled(args: argparse.Namespace, work: Work) -> int:
    """Builds this process's services and runs `work` until SIGTERM/SIGINT sets its stop event."""
    import asyncio

    from entrypoints.bootstrap import build_services

    services = build_services(_settings(args, run_projections=False))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await work(services, stop)

    asyncio.run(main())
    services.close()
    return 0


def relay_run(args: argparse.Namespace) -> int:
    async def relay(services: Services, stop: Event) -> None:
        target = services.settings.nats_url or "the in-process bus"
        print(f"edge-admin: relaying events to {target}", file=sys.stderr)
        await services.relay.run(stop)

    return _until_signalled(args, relay)


def webhooks_work(args: argparse.Namespace) -> int:
    import asyncio

    from entrypoints.workers.webhooks import run_worker

    async def work(services: Services, stop: Event) -> None:
        nats_url = services.settings.nats_url
        print(f"edge-admin: delivering webhooks from {nats_url or 'the in-process relay'}",
              file=sys.stderr)
        # Without NATS the in-process bus is the only intake: this process must relay too.
        relay = [] if nats_url else [services.relay.run(stop)]
        await asyncio.gather(run_worker(services, stop), *relay)

    return _until_signalled(args, work)


def replay(args: argparse.Namespace) -> int:
    from entrypoints.bootstrap import build_services
    from entrypoints.replay import ProjectorBusyError, rebuild
    from projections.runner import EventFailedError, type_name
    from projections.status import describe_error

    services = build_services(_settings(args, run_projections=False))
    total = services.store.recorder.max_notification_id() or 0

    def progress(count: int, seconds: float) -> None:
        rate = count / seconds if seconds else 0.0
        share = f" of {total} ({100 * count / total:.0f}%)" if total else ""
        print(f"replayed {count}{share} events ({rate:,.0f} events/s)", file=sys.stderr)

    try:
        report = rebuild(services, progress)
    except ProjectorBusyError as exc:
        print(f"edge-admin: {exc}", file=sys.stderr)
        services.close()
        return 1
    except EventFailedError as exc:
        print(f"edge-admin: replay stopped at event {exc.notification_id} "
              f"({type_name(exc.event)}): {describe_error(exc.cause)}; the read models hold "
              f"the events before it", file=sys.stderr)
        services.close()
        return 1
    print(f"replay done: {report.events} events in {report.seconds:.2f}s "
          f"({report.rate:,.0f} events/s)")
    services.close()
    return 0


# --- events (entrypoints/event_replay.py) -----------------------------------------------------
def events_replay(args: argparse.Namespace) -> int:
    from entrypoints.event_replay import run as run_replay

    return run_replay(args, _settings(args, run_projections=False))


def position(text: str) -> int:
    """An event log position, 1 to 2^63-1: anything else is a bad flag (exit 2), not a run
    that starts and then fails (`--from 0` exited 1 after announcing its run)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a position") from None
    if not 1 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"{text} is not a position (1 to 2^63-1)")
    return value


def add_events_parser(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    events = sub.add_parser("events", help="the event log")
    events_sub = events.add_subparsers(dest="action", required=True)
    r = events_sub.add_parser(
        "replay", help="re-send a range of stored events to NATS and/or a webhook (new ids)"
    )
    r.add_argument("--from", dest="start", type=position, required=True, metavar="POSITION",
                   help="first position to replay (inclusive)")
    r.add_argument("--to", dest="stop", type=position, metavar="POSITION",
                   help="last position to replay (inclusive; default: the end of the log now)")
    r.add_argument("--type", action="append", metavar="TYPE",
                   help="catalog type to replay; repeatable or comma-separated (default: all, "
                        "or the webhook's subscriptions)")
    r.add_argument("--nats", action="store_true", help="re-publish to the NATS stream")
    r.add_argument("--webhook", type=uuid.UUID, metavar="WEBHOOK_ID",
                   help="queue fresh deliveries to this webhook")
    r.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")
    r.add_argument("--run-id", type=uuid.UUID, metavar="UUID",
                   help="repeat an interrupted run: copies get the same ids, so nothing doubles")
    r.set_defaults(func=events_replay)
# --- end events -------------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """Bad flags end like bad settings: one line on stderr naming the problem, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def port_number(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535, got {raw!r}")
    return value


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _version() -> str:
    try:
        return metadata.version("edge-control-plane")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    root = OneLineParser(prog="edge-admin", description=__doc__)
    root.add_argument("--version", action="version", version=f"edge-admin {_version()}")
    sub = root.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the HTTP API (projections run in-process)")
    s.add_argument("--host", help="listen address (default HOST or 127.0.0.1)")
    s.add_argument("--port", type=port_number, help="listen port (default PORT or 8080)")
    s.add_argument("--no-projections", action="store_true",
                   help="leave projections to a separate `edge-admin projections run`")
    s.add_argument("--log-level", default="info", choices=LOG_LEVELS, type=str.lower)
    s.set_defaults(func=serve)
    p = sub.add_parser("projections", help="projection processes")
    psub = p.add_subparsers(dest="action", required=True)
    run = psub.add_parser("run", help="keep the read models up to date until stopped")
    run.set_defaults(func=projections_run)
    status = psub.add_parser(
        "status", help="where the read model stands; the event it is stuck at, if any (exit 1)")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(func=projections_status)
    relay = sub.add_parser("relay", help="the event relay")
    relay_sub = relay.add_subparsers(dest="action", required=True)
    relay_run_parser = relay_sub.add_parser("run", help="publish the edge.* catalog until stopped")
    relay_run_parser.set_defaults(func=relay_run)
    hooks = sub.add_parser("webhooks", help="webhook delivery")
    hooks_sub = hooks.add_subparsers(dest="action", required=True)
    hooks_sub.add_parser(
        "work", help="fan published events out to webhooks and deliver them until stopped"
    ).set_defaults(func=webhooks_work)
    sub.add_parser("migrate", help="apply the pending migrations of the tables events cannot "
                   "rebuild (serve does too, at start)").set_defaults(func=migrate)
    r = sub.add_parser("replay", help="rebuild every read model from the event store")
    r.set_defaults(func=replay)
    add_events_parser(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"edge-admin: invalid setting: {exc}", file=sys.stderr)
        return 2
    except (ReadModelTooNewError, DatabaseTooNewError, ReadModelBusyError,
            DatabaseUnavailableError) as exc:
        print(f"edge-admin: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
