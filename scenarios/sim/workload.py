"""What the simulation kernel offers a workload, and what it asks of one.

The kernel (`scenarios.sim.world.World`) runs consensus: nodes, network, clock, safety and
liveness. It knows nothing of what the transactions mean. A workload is what gives them a
meaning: it makes transactions, files them through the kernel's nodes, reads what the chain
commits, and adds its own findings to the run's summary and its own rows to the ledger export.
The precursor trade (`scenarios.trade.runner.TradeWorkload`) is one; `scenarios.assemble` gives
it to the kernel. A kernel built with no workload runs consensus alone (its nodes then use the
node's default application).

Two small contracts:

`Workload` is what a workload implements. The kernel calls, in this order:

- `attach(world)` once, while the world is built (its genesis, identities, signature scheme,
  nations, verifier, scenario and random streams are ready; its trace and queue are not in use
  yet). A workload keeps `world` to use the `Kernel` members below, and plans what it will do.
- `new_chaincode()` each time a node is built (at boot and at every restart): the application
  state machine that node runs, fresh, or None for the node's default.
- `begin()` once, before the first event, after the nodes that are up at tick 0 have booted:
  schedule the workload's first events with `world.schedule`.
- `on_canonical(block, committed)` once per height, at the first commit of that height by an
  honest node, with the application's begin-block flags and per-transaction results
  (`committed.flags`, `committed.results`): judge it, export it, and schedule what follows.
  This is the kernel's only per-commit call; nothing is called per message.
- `on_chain(block)` may be called by a driver that learns a block's contents before it has the
  block's certificate (the live cluster): schedule what follows the block's transactions. A
  workload must accept it for a block `on_canonical` sees later (or saw), and act once.
- `summary()` when the run's summary is made (at the end of the run; it may be asked again):
  the sections the workload adds to it (the trade adds `domain`); `txs_submitted()` the
  transactions it made, counted in the summary's `txs_submitted`.
- `close()` once, last: flush and close what the workload writes (the ledger export).

`Kernel` is what a workload may use of the world it is attached to: nothing else (no private
member). Everything a workload schedules runs in the kernel's one event queue, ordered by
(tick, seq) with everything else, so a run stays reproducible byte for byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    import random

    from nodes import Block, Committed, Genesis, Transaction, VerifyCache
    from nodes.chain.identity import Identity
    from scenarios.sim.trace import Trace
    from scenarios.spec.loader import Scenario


class Kernel(Protocol):
    """The public members of `World` a workload (or a fleet) may use."""

    scenario: Scenario
    genesis: Genesis
    identities: dict[str, Identity]  # nation -> its signing identity
    nations: tuple[str, ...]  # the members of the chain, in genesis order
    verifier: VerifyCache  # shared signature cache: give it to what checks signatures
    # The signature scheme nations sign with (nodes/chain/identity.py ED25519, or the
    # world's nodes/chain/modelled.py ModelledSignatures): derive other identities through it
    # (`signatures.derive(name, seed, purpose)`), so the verifier can check what they sign.
    signatures: object
    trace: Trace  # `trace.write(record)` adds a line to the run's trace
    now: int  # the current tick

    def stream(self, name: str) -> random.Random:
        """The named random stream of the run's seed (see `scenarios.sim.rng.Streams`)."""

    def schedule(self, tick: int, callback: Callable[..., None], *args) -> None:
        """Run `callback(*args)` at `tick` (not before `now`), after everything scheduled
        earlier for that tick."""

    def is_up(self, instance: str) -> bool:
        """Whether `instance` (a nation) runs now: not crashed."""

    def submit(self, instance: str, tx: Transaction) -> bool:
        """Give `tx` to the node of `instance` now, as a client would; False (and nothing done)
        when it is down."""


class Workload:
    """A workload that does nothing: the kernel's default, and the base of real ones. See the
    module docstring for when each method is called."""

    def attach(self, world: Kernel) -> None:
        self.world = world

    def new_chaincode(self):
        return None

    def begin(self) -> None:
        pass

    def on_canonical(self, block: Block, committed: Committed) -> None:
        pass

    def on_chain(self, block: Block) -> None:
        pass

    def summary(self) -> dict:
        return {}

    def txs_submitted(self) -> int:
        return 0

    def close(self) -> None:
        pass
