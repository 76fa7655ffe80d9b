"""Sealed custody records (nodes/app/privacy.py): the flag table, envelopes and records, the
shared chain's checks on commitments, and bad openings rejected with a reason, never a crash."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from nodes.app import commit as pc
from nodes.app.chaincode import FLAG_KINDS
from nodes.app.events import EVENT_KINDS, FIELDS
from nodes.app.privacy import (CHECKS, COMMITTED, COMMITTED_HIDDEN, LANE_HIDDEN, LANE_PRIVATE,
                               MODES, PLAINTEXT, EnvelopeError, OpeningRejected,
                               SealedChaincode, decode_envelope, hidden_fields, open_record,
                               rules_checkable_share, seal)
from nodes.chain.codec import pack, unpack
from nodes.chain.identity import Identity
from nodes.chain.tx import Transaction
from scenarios.spec.schema import PRIVACY_MODES

CHECKERS = ("all", "commitments", "lane", "none")
SENTINEL_G = 734_219_865_431  # a quantity no random 5 bytes are likely to spell
SHIP = dict(shipment="S1", lot="L1", quantity_g=SENTINEL_G, exporter="CHN-MFG",
            importer="MEX-IMP", to_nation="MEX", via=("PAN",), pen="S1-pen",
            hs_code="2915.24", declared_chemical="acetic-anhydride")


def test_every_flag_kind_is_checked_or_reported_not_checkable_in_every_mode():
    assert set(CHECKS) == set(FLAG_KINDS)
    assert tuple(PRIVACY_MODES) == MODES
    for kind in FLAG_KINDS:
        for mode in MODES:
            who, why = CHECKS[kind][mode]
            assert who in CHECKERS, (kind, mode)
            if mode == PLAINTEXT:
                assert who == "all", kind  # the reference: every nation sees everything
            elif who != "all":
                assert why, (kind, mode, "a rule that leaves 'all' says why")
            if who == "commitments":
                assert mode == COMMITTED
    for mode in MODES:
        share = rules_checkable_share(mode)
        assert abs(sum(share.values()) - 1) < 1e-3


def test_hidden_fields_are_fields_of_their_kind_and_cover_every_quantity():
    assert set(LANE_HIDDEN) == set(EVENT_KINDS)
    for kind in EVENT_KINDS:
        names = {n for n, _ in FIELDS[kind]}
        assert set(LANE_HIDDEN[kind]) <= names and set(COMMITTED_HIDDEN[kind]) <= names
        # lane-private hides at least what committed-quantities does
        assert set(COMMITTED_HIDDEN[kind]) <= set(LANE_HIDDEN[kind]), kind
    assert COMMITTED_HIDDEN["ship"] == ("quantity_g",)
    assert hidden_fields(PLAINTEXT, "ship") == ()


def _rand(seed: int):
    return random.Random(seed).randbytes


@pytest.mark.parametrize("mode", [LANE_PRIVATE, COMMITTED])
def test_a_record_opens_its_envelope_and_the_envelope_hides_the_quantity(mode):
    env_bytes, record = seal(mode, "ship", "S1-ship", 50, SHIP, (), ("CHN", "PAN", "MEX"),
                             _rand(1))
    for width in (5, 8):
        assert SENTINEL_G.to_bytes(width, "big") not in env_bytes
    assert str(SENTINEL_G).encode() not in env_bytes
    env = decode_envelope(mode, "ship", env_bytes)
    assert env.lane == ("CHN", "PAN", "MEX")
    event, blindings = open_record(mode, env, record)
    assert event["quantity_g"] == SENTINEL_G and event["importer"] == "MEX-IMP"
    if mode == COMMITTED:
        assert env.values["quantity_g"] == pc.commit(SENTINEL_G, blindings["quantity_g"])
        assert env.values["importer"] == "MEX-IMP"  # only quantities are hidden here
    else:
        assert env.values["importer"] is None and env.values["quantity_g"] is None


@pytest.mark.parametrize("mode", [LANE_PRIVATE, COMMITTED])
def test_bad_openings_are_rejected_with_a_reason(mode):
    env_bytes, record = seal(mode, "ship", "S1-ship", 50, SHIP, (), ("CHN", "MEX"), _rand(2))
    env = decode_envelope(mode, "ship", env_bytes)
    _, _, payload, secrets = unpack(record)
    other = dict(SHIP, quantity_g=SENTINEL_G - 1)
    _, forged = seal(mode, "ship", "S1-ship", 50, other, (), ("CHN", "MEX"), _rand(2))
    cases = {
        "malformed_record": [b"\x00junk", pack(("record", "S1-ship")),
                             pack(("record", "S1-ship", b"not an event", secrets))],
        "wrong_event": [pack(("record", "S2-ship", payload, secrets))],
        "commitment_mismatch": [forged],
    }
    if mode == LANE_PRIVATE:
        cases["malformed_record"].append(pack(("record", "S1-ship", payload, b"short")))
    else:
        cases["malformed_record"].append(pack(("record", "S1-ship", payload, ())))
    for reason, records in cases.items():
        for bad in records:
            with pytest.raises(OpeningRejected) as info:
                open_record(mode, env, bad)
            assert info.value.reason == reason


def test_a_record_that_changes_a_public_field_is_rejected():
    """committed-quantities: the quantity opens, but the record names another importer."""
    env_bytes, record = seal(COMMITTED, "ship", "S1-ship", 50, SHIP, (), ("CHN", "MEX"),
                             _rand(3))
    env = decode_envelope(COMMITTED, "ship", env_bytes)
    _, blindings = open_record(COMMITTED, env, record)
    _, again = seal(COMMITTED, "ship", "S1-ship", 50, dict(SHIP, importer="MEX-FRONT"), (),
                    ("CHN", "MEX"), lambda n: blindings["quantity_g"].to_bytes(32, "little")
                    + bytes(n - 32) if n == 64 else bytes(n))
    # the blinding reduces to the same scalar, so only the importer differs
    with pytest.raises(OpeningRejected) as info:
        open_record(COMMITTED, env, again)
    assert info.value.reason == "public_fields_mismatch"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([LANE_PRIVATE, COMMITTED]),
       st.sampled_from(EVENT_KINDS))
def test_random_bytes_never_crash_the_checks(data, mode, kind):
    try:
        env = decode_envelope(mode, kind, data)
    except EnvelopeError:
        env = decode_envelope(mode, "ship", seal(mode, "ship", "S1-ship", 1, SHIP, (),
                                                 ("CHN",), _rand(4))[0])
    with pytest.raises(OpeningRejected):
        open_record(mode, env, data)


CHAIN = "test-chain"
CHN = Identity.derive("CHN", 0)
MEX = Identity.derive("MEX", 0)


def _tx(identity, kind, payload, nonce):
    return Transaction.create(CHAIN, identity, kind, nonce, payload)


def _committed_shipment(received_g, tolerance_g, opening=None):
    rng = _rand(5)
    cc = SealedChaincode(CHAIN, COMMITTED, tolerance_g)
    ship_env, ship_record = seal(COMMITTED, "ship", "S1-ship", 10, SHIP, (), ("CHN", "MEX"),
                                 rng)
    _, blindings = open_record(COMMITTED, decode_envelope(COMMITTED, "ship", ship_env),
                               ship_record)
    receive = dict(shipment="S1", quantity_g=received_g, importer="MEX-IMP", new_lot="L2")
    env, _ = seal(COMMITTED, "receive", "S1-receive", 20, receive, (), ("CHN", "MEX"), rng,
                  (b"", SHIP["quantity_g"], blindings["quantity_g"]))
    if opening is not None:
        raw = list(unpack(env))
        raw[6] = opening
        env = pack(tuple(raw))
    results = [cc.apply_tx(_tx(CHN, "ship", ship_env, 1), 30),
               cc.apply_tx(_tx(MEX, "receive", env, 2), 30)]
    return cc, results, env + ship_env


def test_every_nation_checks_conservation_on_commitments_without_seeing_a_quantity():
    cc, (ship, receive), chain_bytes = _committed_shipment(SENTINEL_G, 0)
    assert ship.accepted and receive.accepted and receive.flags == ()
    for width in (5, 8):
        assert SENTINEL_G.to_bytes(width, "big") not in chain_bytes
    # One gram skimmed beyond a tolerance of 0 g is flagged, by every node, from the opening.
    cc, (_, receive), chain_bytes = _committed_shipment(SENTINEL_G - 1, 0)
    assert receive.accepted and [f.kind for f in receive.flags] == ["discrepancy"]
    assert "opened discrepancy 1 g" in receive.flags[0].detail
    assert (SENTINEL_G - 1).to_bytes(8, "big")[3:] not in chain_bytes
    # Within the tolerance: no flag.
    _, (_, receive), _ = _committed_shipment(SENTINEL_G - 1, 1)
    assert receive.flags == ()


def test_a_wrong_opening_on_chain_is_rejected_and_counted():
    for opening in ((0, bytes(32)), (5, b"\x01" * 32), ()):
        cc, (_, receive), _ = _committed_shipment(SENTINEL_G, 0, opening)
        assert not receive.accepted and receive.reason == "bad_opening"
        assert cc.state.bad_openings == 1
    cc, (_, receive), _ = _committed_shipment(SENTINEL_G, 0, (1, b"\xff" * 32))
    assert receive.reason == "bad_opening" and cc.state.bad_openings == 1


def test_the_shared_chain_rejects_malformed_and_duplicate_envelopes_and_forks_cleanly():
    cc = SealedChaincode(CHAIN, LANE_PRIVATE)
    env, _ = seal(LANE_PRIVATE, "ship", "S1-ship", 10, SHIP, (), ("CHN",), _rand(6))
    assert cc.apply_tx(_tx(CHN, "ship", b"\x93junk", 1), 20).reason == "malformed"
    assert cc.apply_tx(_tx(CHN, "ship", env, 2), 20).accepted
    fork = cc.state.fork()
    assert cc.apply_tx(_tx(CHN, "ship", env, 3), 20).reason == "duplicate_event"
    assert cc.apply_tx(_tx(CHN, "receive", env, 4), 20).reason == "malformed"
    late, _ = seal(LANE_PRIVATE, "transit", "S1-t", 99, dict(shipment="S1", nation="PAN"), (),
                   ("PAN",), _rand(7))
    assert cc.apply_tx(_tx(CHN, "transit", late, 5), 20).reason == "future_time"
    # as in the plaintext chaincode, a malformed payload is a result but not a counted event
    assert fork.applied == 1 and cc.state.applied == 1 and cc.state.rejected == 2
    assert fork.root != cc.state.root


def test_the_docs_table_says_who_checks_each_flag_as_the_code_does():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "privacy.md").read_text()
    for kind in FLAG_KINDS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{kind}` |"))
        cells = [c.strip() for c in row.split("|")[2:5]]
        assert cells == [CHECKS[kind][m][0] for m in MODES], kind


def test_a_record_with_a_negative_quantity_is_rejected():
    """The commitment to -5 kg is a valid point (nothing on the chain can tell), but the lane
    member that opens the record finds no quantity there."""
    negative = dict(shipment="S1", quantity_g=-5_000, importer="MEX-IMP", new_lot="L2")
    env_bytes, record = seal(COMMITTED, "receive", "S1-receive", 20, negative, (),
                             ("CHN", "MEX"), _rand(8))
    env = decode_envelope(COMMITTED, "receive", env_bytes)  # the chain accepts its form
    with pytest.raises(OpeningRejected) as info:
        open_record(COMMITTED, env, record)
    assert info.value.reason == "malformed_record"


USA = Identity.derive("USA", 0)
CAN = Identity.derive("CAN", 0)
KEYS = {i.name: i.public_key for i in (CHN, MEX, USA, CAN)}


def _chain_with_a_receipt(mode=LANE_PRIVATE):
    """A shared chain that knows the nations' keys, CAN its oversight nation, and holds one
    sealed receipt of the lane (MEX, CHN)."""
    from nodes.chain.identity import VerifyCache
    cc = SealedChaincode(CHAIN, mode, 1000, KEYS, VerifyCache(), ("CAN",))
    receive = dict(shipment="S1", quantity_g=SENTINEL_G, importer="MEX-IMP", new_lot="L2")
    env, _ = seal(mode, "receive", "S1-receive", 10, receive, (), ("MEX", "CHN"), _rand(9))
    assert cc.apply_tx(_tx(MEX, "receive", env, 1), 20).accepted
    return cc


def _act(cc, carrier, kind, payload, nonce):
    return cc.apply_tx(_tx(carrier, kind, payload, nonce), 30)


def test_a_lane_members_signed_verdict_raises_its_flags_for_every_nation():
    from nodes.app.privacy import sign_lane_act
    cc = _chain_with_a_receipt()
    verdict = sign_lane_act(CHAIN, CHN, "verdict", "S1-receive", (("discrepancy", "S1"),))
    # carried by any node: the verdict's own signature is what every nation checks
    result = _act(cc, USA, "verdict", verdict, 2)
    assert result.accepted and [(f.kind, f.subject) for f in result.flags] == \
        [("discrepancy", "S1")]
    assert result.flags[0].detail.startswith("on the signed verdict of CHN")
    assert result.flags[0] in cc.state.flags and SENTINEL_G.to_bytes(5, "big") not in verdict
    # the same member's second verdict on the event is refused; another member's is counted
    assert _act(cc, CHN, "verdict", verdict, 3).reason == "duplicate_verdict"
    other = sign_lane_act(CHAIN, MEX, "verdict", "S1-receive", (("discrepancy", "S1"),))
    assert _act(cc, MEX, "verdict", other, 4).accepted


def test_verdicts_from_outside_the_lane_or_badly_signed_are_rejected_and_counted():
    from nodes.app.privacy import sign_lane_act
    cc = _chain_with_a_receipt()
    flags = (("discrepancy", "S1"),)
    root = cc.state.root
    outsider = sign_lane_act(CHAIN, USA, "verdict", "S1-receive", flags)
    assert _act(cc, USA, "verdict", outsider, 2).reason == "not_on_lane"
    # CHN's name on USA's signature, and a signature over other flags
    kind, event, _, content, sig = unpack(outsider)
    assert _act(cc, USA, "verdict", pack((kind, event, "CHN", content, sig)), 3).reason == \
        "bad_signature"
    good = unpack(sign_lane_act(CHAIN, CHN, "verdict", "S1-receive", flags))
    swapped = pack((good[0], good[1], good[2], (("discrepancy", "S2"),), good[4]))
    assert _act(cc, CHN, "verdict", swapped, 4).reason == "bad_signature"
    # a verdict for another chain does not verify here
    elsewhere = sign_lane_act("other-chain", CHN, "verdict", "S1-receive", flags)
    assert _act(cc, CHN, "verdict", elsewhere, 5).reason == "bad_signature"
    assert _act(cc, CHN, "verdict", sign_lane_act(CHAIN, CHN, "verdict", "S9-receive", flags),
                6).reason == "unknown_event"
    # a flag every nation checks on public data is no lane's to attest
    assert _act(cc, CHN, "verdict", sign_lane_act(CHAIN, CHN, "verdict", "S1-receive",
                                                  (("overdue", "S1"),)), 7).reason == \
        "not_lane_checked"
    assert _act(cc, CHN, "verdict", b"\x93junk", 8).reason == "malformed"
    assert cc.state.acts_rejected == {"bad_signature": 3, "malformed": 1, "not_lane_checked": 1,
                                      "not_on_lane": 1, "unknown_event": 1}
    assert cc.state.flags == [] and cc.state.root != root
    assert cc.state.rejected == 6  # as for events, the malformed payload is no counted act


def test_in_committed_quantities_a_discrepancy_is_no_lanes_to_attest():
    """There every nation checks it on the commitments: a lane's verdict on it is refused."""
    from nodes.app.privacy import sign_lane_act
    cc = _chain_with_a_receipt(COMMITTED)
    verdict = sign_lane_act(CHAIN, CHN, "verdict", "S1-receive", (("discrepancy", "S1"),))
    assert _act(cc, CHN, "verdict", verdict, 2).reason == "not_lane_checked"
    yields = sign_lane_act(CHAIN, CHN, "verdict", "S1-receive", (("yield_exceeded", "L2"),))
    assert _act(cc, CHN, "verdict", yields, 3).accepted


def test_a_grant_names_oversight_nations_and_comes_from_the_lane():
    from nodes.app.privacy import sign_lane_act
    cc = _chain_with_a_receipt()
    grant = sign_lane_act(CHAIN, MEX, "grant", "S1-receive", ("S1", ("CAN",)))
    assert _act(cc, MEX, "grant", grant, 2).accepted
    assert cc.state.grants == {("S1", "CAN"): "MEX"}
    fork = cc.state.fork()
    assert _act(cc, MEX, "grant", grant, 3).reason == "duplicate_grant"
    assert _act(cc, USA, "grant", sign_lane_act(CHAIN, USA, "grant", "S1-receive",
                                                ("S1", ("CAN",))), 4).reason == "not_on_lane"
    assert _act(cc, CHN, "grant", sign_lane_act(CHAIN, CHN, "grant", "S1-receive",
                                                ("S1", ("USA",))), 5).reason == "not_oversight"
    assert cc.state.acts_rejected == {"duplicate_grant": 1, "not_oversight": 1,
                                      "not_on_lane": 1}
    assert fork.grants == cc.state.grants and fork.acts_rejected == {}


def test_a_verdict_or_grant_is_about_a_subject_of_the_signers_own_lanes():
    """A member of one lane cannot flag, or grant the trail of, another lane's shipment by
    citing an event of its own: the subject must be named by an envelope of a lane the signer
    is on (`wrong_subject`); a flag named twice in one verdict is malformed."""
    from nodes.app.privacy import sign_lane_act
    cc = _chain_with_a_receipt()
    receive = dict(shipment="S2", quantity_g=SENTINEL_G, importer="USA-IMP", new_lot="L3")
    env, _ = seal(LANE_PRIVATE, "receive", "S2-receive", 10, receive, (), ("USA", "CHN"),
                  _rand(8))
    assert cc.apply_tx(_tx(USA, "receive", env, 2), 20).accepted
    assert cc.state.subject_lanes["S1"] == {"MEX", "CHN"}
    assert cc.state.subject_lanes["L3"] == {"USA", "CHN"}
    on_s1 = sign_lane_act(CHAIN, USA, "verdict", "S2-receive", (("discrepancy", "S1"),))
    assert _act(cc, USA, "verdict", on_s1, 3).reason == "wrong_subject"
    for subject in ("S1", "anything-at-all"):
        grant = sign_lane_act(CHAIN, USA, "grant", "S2-receive", (subject, ("CAN",)))
        assert _act(cc, USA, "grant", grant, 4).reason == "wrong_subject"
    # the lane's own grant is not pre-empted, and its own verdict on S2 stands
    assert _act(cc, MEX, "grant", sign_lane_act(CHAIN, MEX, "grant", "S1-receive",
                                                ("S1", ("CAN",))), 5).accepted
    assert _act(cc, USA, "verdict", sign_lane_act(CHAIN, USA, "verdict", "S2-receive",
                                                  (("discrepancy", "S2"),)), 6).accepted
    twice = sign_lane_act(CHAIN, CHN, "verdict", "S1-receive", (("discrepancy", "S1"),) * 2)
    assert _act(cc, CHN, "verdict", twice, 7).reason == "malformed"
    assert cc.state.acts_rejected == {"wrong_subject": 3, "malformed": 1}
    assert [(f.kind, f.subject) for f in cc.state.flags] == [("discrepancy", "S2")]


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(("verdict", "grant")), payload=st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(("verdict", "grant")),
              st.sampled_from(("S1-receive",)) | st.text(max_size=20),
              st.text(max_size=5), st.recursive(st.text(max_size=10) | st.binary(max_size=8),
                                                lambda c: st.lists(c, max_size=4).map(tuple),
                                                max_leaves=8),
              st.binary(max_size=80)).map(pack)))
def test_any_bytes_as_a_lane_act_are_a_counted_rejection_never_a_crash(kind, payload):
    cc = _chain_with_a_receipt()
    result = _act(cc, CHN, kind, payload, 2)
    assert not result.accepted and result.reason in (
        "malformed", "unknown_event", "unknown_signer", "bad_signature")
    assert sum(cc.state.acts_rejected.values()) == 1
