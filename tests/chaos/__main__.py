"""``python -m tests.chaos --events N --seconds S --seed K``: the fault-injection run (``make chaos``).

Prints the figures as a table and exits 1 on any violated invariant (the data folder is kept then)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from tests.chaos.storm import KILL_TARGETS, MUST_KILL, run_chaos


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    ap.add_argument("--events", type=int, default=300, help="distinct inbound events in the storm")
    ap.add_argument("--seconds", type=float, default=90.0, help="length of the storm (and of the killing)")
    ap.add_argument("--seed", type=int, default=1, help="seeds the event mix and the killer's choices")
    ap.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between two SIGKILLs")
    ap.add_argument("--targets", default=",".join(KILL_TARGETS), help="processes the killer may pick")
    ap.add_argument("--max-settle", type=float, default=240.0, help="bound on the wait for quiescence")
    ap.add_argument("--keep-data", action="store_true", help="keep the stack's data folder (logs) when OK too")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each kill")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # the checker's own pool retries its connection floor while PostgreSQL is being killed: expected, not news
    logging.getLogger("asyncpg.pool").setLevel(logging.CRITICAL)
    targets = tuple(t for t in args.targets.split(",") if t)
    unknown = set(targets) - set(KILL_TARGETS)
    if unknown:
        ap.error(f"unknown targets {sorted(unknown)}; choose among {','.join(KILL_TARGETS)}")
    report = asyncio.run(run_chaos(events=args.events, seconds=args.seconds, seed=args.seed,
                                   kill_every=args.kill_every, targets=targets,
                                   must_kill=tuple(t for t in MUST_KILL if t in targets),
                                   max_settle=args.max_settle, keep_data=args.keep_data))
    print(report.table())
    if report.ok and args.keep_data:
        print(f"\ndata folder (logs): {report.data_dir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
