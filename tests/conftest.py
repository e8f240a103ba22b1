"""Test set-up: gevent's monkey patching, and a fresh beamlike node for every test."""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

# No test may reach a real LLM vendor: providers refuse every non-loopback host.
os.environ["ELIXIRCHAIN_FORBID_NETWORK"] = "1"

import pytest  # noqa: E402

import beamlike  # noqa: E402
from beamlike import node as node_module  # noqa: E402


@pytest.fixture(autouse=True)
def node():
    """A fresh default Node for the test; every process it spawned is killed after."""
    fresh = beamlike.Node()
    previous = node_module.set_default(fresh)
    try:
        yield fresh
    finally:
        fresh.stop()
        node_module.set_default(previous)
