"""`chemtrace keys`, `chemtrace genesis` and `chemtrace broker-config`: setting up a live chain.

    chemtrace keys --nations USA,MEX,CAN,CHN --out DIR [--force]
    chemtrace genesis --keys DIR --out FILE [--chain-id ID] [--power NATION=W,...] [--force]
        (DIR holds NATION.pub files, or NATION.key: the public half is all it reads)
    chemtrace broker-config --genesis FILE --out DIR [--port P] [--host H]

The three run in that order, once per chain: each nation's key stays on its own host (only the
public keys travel, inside the genesis), and the broker's host gets the genesis to make the
credentials from. Exit codes: 0 on success, 2 for a bad command line or an input file that
cannot be used; the message names the file, the field and the fix.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from consensus.validators import ValidatorSetError
from nodes.live.brokerconf import BrokerError, check_chain_id, find_mosquitto, write_broker_config
from nodes.chain.genesis import NATION_CODE, Genesis, GenesisError, GenesisNation
from nodes.chain.identity import Identity
from nodes.live.keyfile import (
    KeyFileError,
    key_path,
    make_key_dir,
    public_path,
    read_key,
    read_public,
    write_key,
    write_public,
)

from scenarios.cli.args import ExitCode

COMMANDS = ("keys", "genesis", "broker-config")
DEFAULT_CHAIN_ID = "chemtrace-live"
NATIONS_MAX = 1024
KEY_FILES_MAX = 1024


def add_parsers(sub) -> None:
    keys = sub.add_parser("keys", help="make one Ed25519 key file per nation (mode 0600) and "
                          "its public half (NATION.pub)")
    keys.add_argument("--nations", required=True,
                      help="comma-separated ISO 3166 alpha-3 codes, e.g. USA,MEX,CAN,CHN")
    keys.add_argument("--out", type=Path, required=True, help="folder for NATION.key files")
    keys.add_argument("--force", action="store_true", help="replace existing key files")
    gen = sub.add_parser("genesis", help="make a genesis file from a folder of key files")
    gen.add_argument("--keys", type=Path, required=True,
                     help="folder of NATION.pub (or NATION.key) files")
    gen.add_argument("--out", type=Path, required=True, help="genesis file to write (JSON)")
    gen.add_argument("--chain-id", default=DEFAULT_CHAIN_ID,
                     help=f"chain id, one MQTT topic level (default {DEFAULT_CHAIN_ID})")
    gen.add_argument("--power", default="",
                     help="voting powers, e.g. USA=2,MEX=1 (default 1 for every nation)")
    gen.add_argument("--force", action="store_true", help="replace an existing genesis file")
    broker = sub.add_parser("broker-config",
                            help="write a Mosquitto configuration with one login per nation")
    broker.add_argument("--genesis", type=Path, required=True, help="genesis file (JSON)")
    broker.add_argument("--out", type=Path, required=True,
                        help="folder for mosquitto.conf, passwd, acl and credentials.json")
    broker.add_argument("--port", type=int, default=1883, help="listener port (default 1883)")
    broker.add_argument("--host", default="127.0.0.1",
                        help="listener address (default 127.0.0.1; 0.0.0.0 for other hosts)")


def dispatch(args: argparse.Namespace) -> ExitCode:
    command = {"keys": cmd_keys, "genesis": cmd_genesis,
               "broker-config": cmd_broker_config}[args.command]
    try:
        return command(args)
    except (KeyFileError, GenesisError, BrokerError, ValidatorSetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return ExitCode.USAGE


def parse_nations(text: str) -> list[str]:
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise GenesisError("--nations: give at least one code, e.g. --nations USA,MEX,CAN,CHN")
    if len(codes) > NATIONS_MAX:
        raise GenesisError(f"--nations: at most {NATIONS_MAX} nations, got {len(codes)}")
    for code in codes:
        if not NATION_CODE.fullmatch(code):
            raise GenesisError(f"--nations: {code!r} is not an ISO 3166 alpha-3 code such as "
                               "'USA' (three capital letters)")
    if len(set(codes)) != len(codes):
        raise GenesisError("--nations: a nation is listed twice")
    return codes


def parse_powers(text: str, codes: list[str]) -> dict[str, int]:
    powers = {code: 1 for code in codes}
    for item in (p.strip() for p in text.split(",") if p.strip()):
        nation, sep, weight = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9]{1,9}", weight.strip()) or int(weight) < 1:
            raise GenesisError(f"--power: {item!r} must be NATION=WEIGHT with a whole weight "
                               ">= 1, e.g. USA=2")
        if nation.strip() not in powers:
            raise GenesisError(f"--power: {nation.strip()!r} has no key file; the nations are "
                               f"{', '.join(codes)}")
        powers[nation.strip()] = int(weight)
    return powers


def cmd_keys(args: argparse.Namespace) -> ExitCode:
    codes = parse_nations(args.nations)
    out = make_key_dir(args.out)
    if not args.force:
        # Check every file first so a refusal leaves nothing half made.
        existing = [str(key_path(out, c)) for c in codes if key_path(out, c).exists()]
        if existing:
            raise KeyFileError(f"{', '.join(existing)}: key file(s) exist already; keep them, "
                               "or pass --force to replace them (then make the genesis again)")
    for code in codes:
        identity = Identity.generate(code)
        path = write_key(key_path(out, code), code, identity, overwrite=args.force)
        public = write_public(public_path(out, code), code, identity.public_key, overwrite=True)
        print(f"wrote {path} and {public.name} (public key {identity.public_key.hex()})")
    return ExitCode.OK


def cmd_genesis(args: argparse.Namespace) -> ExitCode:
    check_chain_id(args.chain_id, "--chain-id")
    if not args.keys.is_dir():
        raise KeyFileError(f"{args.keys}: no such folder of key files; make one with "
                           "`chemtrace keys --nations USA,MEX,CAN,CHN --out DIR`")
    files = sorted([*args.keys.glob("*.key"), *args.keys.glob("*.pub")])
    if not files:
        raise KeyFileError(f"{args.keys}: no NATION.pub or NATION.key files here; make them "
                           "with `chemtrace keys --nations ... --out DIR`")
    if len(files) > KEY_FILES_MAX:
        raise KeyFileError(f"{args.keys}: {len(files)} key files, at most {KEY_FILES_MAX}")
    keys: dict[str, bytes] = {}
    for path in files:
        if path.suffix == ".key":
            nation, identity = read_key(path)
            public_key = identity.public_key
        else:
            nation, public_key = read_public(path)
        if path.stem != nation:
            raise KeyFileError(f"{path}: holds the key of {nation}; rename it to "
                               f"{nation}{path.suffix}")
        if keys.setdefault(nation, public_key) != public_key:
            raise KeyFileError(f"{path}: {nation}.key and {nation}.pub hold different keys; "
                               f"remove the stale one (the node signs with {nation}.key)")
    codes = sorted(keys)
    powers = parse_powers(args.power, codes)
    genesis = Genesis(args.chain_id, tuple(GenesisNation(c, keys[c], powers[c]) for c in codes))
    if args.out.exists() and not args.force:
        raise GenesisError(f"{args.out}: a genesis file exists already; pass --force to replace "
                           "it (nodes with data from the old chain must start afresh)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(genesis.to_json() + "\n")
    Genesis.load(args.out)  # what we wrote must load back: fail here, not on four hosts later
    print(f"wrote {args.out}: chain {genesis.chain_id}, nations "
          + ", ".join(f"{c} (power {powers[c]})" for c in codes))
    return ExitCode.OK


def cmd_broker_config(args: argparse.Namespace) -> ExitCode:
    genesis = Genesis.load(args.genesis)
    check_chain_id(genesis.chain_id, str(args.genesis))
    config = write_broker_config(genesis, args.out, port=args.port, host=args.host)
    for path in (config.conf_path, config.passwd_path, config.acl_path, config.credentials_path):
        print(f"wrote {path}")
    print(f"users: {', '.join(config.credentials)}; start the broker with: "
          f"{mosquitto_command()} -c {config.conf_path}")
    return ExitCode.OK


def mosquitto_command() -> str:
    """How to call mosquitto here: its full path where it is installed (Debian puts it in
    /usr/sbin, off an ordinary user's PATH), else its name and how to install it."""
    try:
        return find_mosquitto()
    except BrokerError:
        return "mosquitto (not installed here: apt-get install -y mosquitto puts it in /usr/sbin)"
