"""Sharing expressions with apps: consent, grants, tokens, the audit log, the stream.

Sharing is deny-by-default: an app sees nothing until the person approves a consent
request for named scopes (:class:`facegate.sharing.scopes.Scope`), and identity data
is never a scope. This package never imports ``facegate.biometrics`` or the vault's
template tables; its own state lives in a separate SQLite file
(``$FACEGATE_HOME/sharing.sqlite3``).

Nothing is imported here, so that importing one sharing module (the tracker, say)
never loads the others.
"""
