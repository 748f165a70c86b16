"""A fake GitHub Enterprise for the demo and the tests: deterministic data, real HTTP."""

from copilot_source.demo.fake_github.data import FakeEnterprise
from copilot_source.demo.fake_github.server import FakeGitHub, Faults

__all__ = ["FakeEnterprise", "FakeGitHub", "Faults"]
