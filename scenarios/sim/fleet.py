"""Where a world's nodes run: in the kernel's process (the default), or somewhere else.

The kernel (`scenarios.sim.world.World`) keeps the book of which instances are up, their
incarnations, the trace of crashes and restarts, and which nations the client workload may
pick; it starts, kills and wipes instances when the scenario says so. By default every instance
is a `nodes.Node` in the kernel's own process, built with the behaviours the scenario gives its
nation. A `Fleet` given to the world runs them elsewhere instead: the live cluster
(`scenarios.cluster.driver.LiveCluster`) runs each as a `chemtrace node` process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nodes import Transaction


class RunningNode(Protocol):
    """What the kernel needs of a node a fleet started: its actions are handled like those of
    an in-process node (an empty list: nothing to do)."""

    def start(self, now_ticks: int) -> list:
        """The node's first actions, right after `Fleet.start`."""

    def submit(self, tx: Transaction, now_ticks: int) -> list:
        """A client transaction for the node's mempool."""

    def next_deadline(self) -> int | None:
        """When the kernel must wake the node next (None: never, it keeps its own timers)."""


class Fleet(Protocol):
    """Starts, kills and wipes instances for a world. Each method is called at the kernel's
    current tick (`world.now`), once per instance, and only when the change makes sense: `start`
    for an instance that is down (or never started), `kill` for one that is up, `wipe` for one
    that is down, just before the `start` of a restart that loses its disk. The disks are the
    fleet's: the world's own `storage` stays unused (its trace's restart lines say height 0)."""

    def start(self, instance: str) -> RunningNode:
        """Start `instance` (again, after a kill: on the same disk unless wiped)."""

    def kill(self, instance: str) -> None:
        """Stop `instance` without warning, as a crash does: its disk stays."""

    def wipe(self, instance: str) -> None:
        """Erase the disk of `instance`, which is down."""
