"""The settings, checked against what is built from them.

:func:`staffgraph.settings.load_settings` checks each variable on its own and depends on nothing
else of the package. The checks that need other modules (the signing-key files, the trusted
documents' manifest, the dynamic ``STAFFGRAPH_OAUTH_<NAME>_*`` variables) are made here, so
every entry point (the CLI, the app, the tests) refuses them in one pass, one line per problem,
before anything starts.
"""

from __future__ import annotations

from staffgraph.auth.keys import load_private_key, load_public_key
from staffgraph.auth.oauth import load_oauth_config
from staffgraph.documents.trusted import ManifestError, load_manifest
from staffgraph.settings import Settings, SettingsError, load_settings


def load_configuration(**overrides: object) -> Settings:
    """:func:`load_settings`, then the key files and the OAuth providers checked.

    Raises :class:`SettingsError` (or its subclass for unsafe production settings) naming every
    offending variable.
    """
    settings = load_settings(**overrides)
    problems: list[str] = []
    if settings.jwt_private_key_file:
        try:
            load_private_key(settings.jwt_private_key_file)
        except ValueError as exc:  # KeyConfigError says which file and why
            problems.append(f"STAFFGRAPH_JWT_PRIVATE_KEY_FILE: Value error, {exc}")
    for path in settings.jwt_previous_public_key_files:
        try:
            load_public_key(path)
        except ValueError as exc:
            problems.append(f"STAFFGRAPH_JWT_PREVIOUS_PUBLIC_KEY_FILES: Value error, {exc}")
    if settings.trusted_documents:
        try:
            load_manifest(settings.trusted_documents)
        except ManifestError as exc:
            problems.append(f"STAFFGRAPH_TRUSTED_DOCUMENTS: {exc}")
    elif settings.trusted_documents_only:
        problems.append(
            "STAFFGRAPH_TRUSTED_DOCUMENTS_ONLY is true but STAFFGRAPH_TRUSTED_DOCUMENTS names "
            "no manifest"
        )
    if problems:
        raise SettingsError(problems)
    if settings.oauth_providers or settings.oauth_redirect_allowlist:
        env_file = overrides.get("_env_file", ".env")
        load_oauth_config(settings, env_file=env_file if isinstance(env_file, str) else None)
    return settings
