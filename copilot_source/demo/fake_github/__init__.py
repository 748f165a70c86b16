"""A fake GitHub for the demo and the tests: deterministic data, real HTTP."""

from copilot_source.demo.fake_github.apps import FakeApp, Installation, new_private_key
from copilot_source.demo.fake_github.data import FakeEnterprise
from copilot_source.demo.fake_github.server import FakeGitHub, Faults

__all__ = ["FakeApp", "FakeEnterprise", "FakeGitHub", "Faults", "Installation", "new_private_key"]
