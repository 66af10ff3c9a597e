"""Login pairs for the web app, from ``NLG_AUTH`` or ``--auth-file`` (pure Python, reads no files).

``NLG_AUTH`` holds ``user:password`` pairs separated by commas (a Space secret); an auth file
holds one pair per line, ``#`` starting a comment. A password may contain ':' (only the first
one separates) but not ',' in NLG_AUTH: use a file for such passwords. Error messages name
the line or pair, never its text, since that text may be a password.

>>> parse_auth_env("ana:correct horse, bo:b:2")
(('ana', 'correct horse'), ('bo', 'b:2'))
>>> parse_auth_file("# team\\nana:pw1\\n\\nbo pw2\\n", "team.txt")
Traceback (most recent call last):
...
nlg_assistant.auth.AuthError: --auth-file team.txt, line 4: no ':' (each line is user:password)
"""

from __future__ import annotations

AUTH_ENV = "NLG_AUTH"

Pairs = tuple[tuple[str, str], ...]


class AuthError(ValueError):
    """A login list cannot be used; the message says where, without echoing any password."""


def parse_auth_env(value: str) -> Pairs:
    """The pairs in an ``NLG_AUTH`` value (comma-separated ``user:password``); `AuthError` if malformed."""
    entries = [(f"pair {n}", part) for n, part in enumerate(value.split(","), start=1) if part.strip()]
    return _pairs(entries, AUTH_ENV)


def parse_auth_file(text: str, name: str) -> Pairs:
    """The pairs in an auth file's `text` (one per line, '#' comments, blank lines skipped)."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            entries.append((f"line {number}", stripped))
    return _pairs(entries, f"--auth-file {name}")


def _pairs(entries: list[tuple[str, str]], source: str) -> Pairs:
    """Split each ``user:password`` entry; every user once, none empty, at least one pair."""
    pairs: list[tuple[str, str]] = []
    for where, entry in entries:
        user, colon, password = entry.strip().partition(":")
        user, password = user.strip(), password.strip()
        if not colon:
            raise AuthError(f"{source}, {where}: no ':' (each {_unit(source)} is user:password)")
        if not user or not password:
            raise AuthError(f"{source}, {where}: the user name and the password must not be empty")
        if any(user == known for known, _ in pairs):
            raise AuthError(f"{source}, {where}: user {user!r} is listed twice")
        pairs.append((user, password))
    if not pairs:
        raise AuthError(f"{source} lists no user:password pair")
    return tuple(pairs)


def _unit(source: str) -> str:
    return "pair" if source == AUTH_ENV else "line"


def describe(pairs: Pairs) -> str:
    """For logs: how many users and their names, never a password."""
    if not pairs:
        return "no login"
    names = ", ".join(user for user, _ in pairs)
    return f"login required ({len(pairs)} user{'s' if len(pairs) != 1 else ''}: {names})"
