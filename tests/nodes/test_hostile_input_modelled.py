"""test_hostile_input.py's tests again, with modelled signatures (nodes/chain/modelled.py).

Issue 19: the hostile-input tests run in both signature modes. That module builds its genesis,
identities and signed messages at import, so it is loaded a second time, under its own name,
with `SIGNATURES = "modelled"` set before its code runs; its tests are collected here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "hostile_input_modelled"
_spec = importlib.util.spec_from_file_location(
    _NAME, Path(__file__).with_name("test_hostile_input.py"))
_module = importlib.util.module_from_spec(_spec)
_module.SIGNATURES = "modelled"
sys.modules[_NAME] = _module
_spec.loader.exec_module(_module)
assert _module.SCHEME.name == "modelled"

globals().update({name: value for name, value in vars(_module).items()
                  if name.startswith("test_")})


def test_this_run_signs_with_modelled_keys():
    identity = _module.IDS["MEX"]
    assert identity.public_key == _module.GENESIS.public_key("MEX")
    message = b"vote"
    assert _module.SCHEME.verify(identity.public_key, message, identity.sign(message))
    assert not _module.SCHEME.verify(identity.public_key, message, bytes(64))
