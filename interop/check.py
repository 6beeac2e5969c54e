"""The interop checks: att against upstream MCP servers built with the official TypeScript and
Python SDKs, over stdio and over streamable HTTP. Driven by ./run (which installs the SDKs,
builds and starts att); standard library only. The checks
live in the package `checks/` by area; this file runs them in order.

Prints one line per check (PASS/FAIL + what), leaves the tally in WORK/results for ./run
(which adds its shutdown checks and prints the closing `N passed, N failed` line), and exits 1
on any failure. It starts (and restarts) the two HTTP SDK servers itself, their pids listed in
WORK/http-server-pids; ./run stops them after att. att starts the two stdio ones. For the
restart of `att mcp stdio`'s att it runs a second att of its own (SecondAtt), stopped and started
again between two calls, and stopped before it returns. Every wait is a bounded poll, never a
fixed sleep.
"""

from __future__ import annotations

import signal
import sys

from checks.clients import check_sdk_clients, check_stdio_bridge_across_restart
from checks.common import WORK, check, results
from checks.oauth import check_oauth
from checks.sse import check_legacy_sse
from checks.tls import check_https_upstream
from checks.upstreams import (
    check_federated_catalog,
    check_http_sessions,
    check_keepalive,
    check_list_changed,
    check_own_tools,
    check_pre_init_via_att,
    check_priority_and_delete,
    check_registration,
    check_resources_and_prompts,
    check_wire_order,
)


def run_checks() -> None:
    """Every section in order: each builds on the state the ones before left."""
    check_wire_order()
    check_registration()
    check_pre_init_via_att()
    check_own_tools()
    check_federated_catalog()
    check_resources_and_prompts()
    check_list_changed()
    check_http_sessions()
    check_keepalive()
    check_sdk_clients()
    check_stdio_bridge_across_restart()
    check_priority_and_delete()
    check_https_upstream()
    check_legacy_sse()
    check_oauth()


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run_checks()
    except Exception as e:  # a crash in the checks is a failure, never a silent pass
        import traceback

        traceback.print_exc()
        check(False, f"the checks crashed: {e!r}")
    # The HTTP servers are left running: ./run stops att first (so that it closes its sessions
    # on live servers), then them (their pids are in WORK/http-server-pids).
    # ./run adds its own checks and prints the closing tally line.
    (WORK / "results").write_text(f"{results['passed']} {results['failed']}\n")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
