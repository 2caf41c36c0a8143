"""A real OpenID Connect provider (and a GitHub look-alike) served on loopback for the tests."""

from tests.oidc_provider.runner import serving
from tests.oidc_provider.server import Account, FakeProvider, Knobs

__all__ = ["Account", "FakeProvider", "Knobs", "serving"]
