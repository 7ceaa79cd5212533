"""Command line: serve the emulator on loopback until Ctrl-C.

python -m pipedrive_emulator --port 8765 --deals 10000 [--seed 7] [--faults PROFILE] [--plan growth]
    [--seats 5] [--no-rate-limits] [--token TOKEN] [--slow-delay 35] [--retry-after] [--list-deleted]
    [--purge-after-days 30] [--gate /api/v2/productFields=402 ...]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace

from pipedrive_emulator.faults import PROFILES
from pipedrive_emulator.ratelimit import BURST_LIMITS
from pipedrive_emulator.server import Emulator


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m pipedrive_emulator", description="Serve a Pipedrive emulator."
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument(
        "--deals", type=int, default=10_000, help="dataset size (other entities scale from it)"
    )
    parser.add_argument("--seed", type=int, default=7, help="dataset and fault seed")
    parser.add_argument("--faults", choices=sorted(PROFILES), default=None, help="fault profile")
    parser.add_argument("--slow-delay", type=float, default=None, help="seconds a 'slow' answer stalls")
    parser.add_argument("--plan", choices=sorted(BURST_LIMITS), default="ultimate", help="Pipedrive plan")
    parser.add_argument("--seats", type=int, default=5, help="seats (scale the daily token budget)")
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="never answer 429 (headers are still sent)"
    )
    parser.add_argument("--retry-after", action="store_true", help="add Retry-After to 429 answers")
    parser.add_argument("--token", default=None, help="the API token to accept (default: a random one)")
    parser.add_argument(
        "--list-deleted",
        action="store_true",
        help="list soft-deleted persons, organizations, activities, products, pipelines, stages and notes",
    )
    parser.add_argument(
        "--purge-after-days", type=float, default=30.0, help="age at which soft-deleted records are purged"
    )
    parser.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="PATH=STATUS",
        help="refuse an endpoint with 402 or 403, e.g. /api/v2/productFields=402 (repeatable)",
    )
    return parser


def _gates(values: list[str]) -> dict[str, int]:
    gates = {}
    for value in values:
        path, _, status = value.rpartition("=")
        if not path or not status.isdigit():
            raise SystemExit(f"--gate takes PATH=STATUS (e.g. /api/v2/productFields=402), got {value!r}")
        gates[path] = int(status)
    return gates


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, print its base URL and token, and serve until interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faults = PROFILES[args.faults] if args.faults else None
    if faults is not None and args.slow_delay is not None:
        faults = replace(faults, slow_delay_s=args.slow_delay)
    emulator = Emulator(
        deals=args.deals,
        seed=args.seed,
        plan=args.plan,
        seats=args.seats,
        rate_limits=not args.no_rate_limits,
        faults=faults,
        token=args.token,
        port=args.port,
        retry_after=args.retry_after,
        list_deleted=args.list_deleted,
        purge_after_days=args.purge_after_days,
        gates=_gates(args.gate),
    )
    emulator.start()
    print(f"base_url={emulator.base_url}", flush=True)
    print(f"token={emulator.token}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
