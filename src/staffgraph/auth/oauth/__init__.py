"""Signing in through OAuth 2 / OpenID Connect providers.

The configuration (``STAFFGRAPH_OAUTH_<NAME>_*``), the provider clients (discovery, PKCE, ID-token
checks), the one-time state of a sign-in in progress, the redirect allow-list and the errors are
exported here for the resolvers and the settings check. The HTTP endpoints,
:func:`staffgraph.auth.oauth.routes.oauth_routes`, are imported from their module by the app
only: they sit above the resolvers they call, which import this package.
"""

from staffgraph.auth.oauth import errors
from staffgraph.auth.oauth.clients import Identity, ProviderClient, build_providers
from staffgraph.auth.oauth.config import OAuthConfig, ProviderConfig, load_oauth_config
from staffgraph.auth.oauth.errors import OAuthFailure

__all__ = [
    "Identity",
    "OAuthConfig",
    "OAuthFailure",
    "ProviderClient",
    "ProviderConfig",
    "build_providers",
    "errors",
    "load_oauth_config",
]
