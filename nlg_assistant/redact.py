"""Make text safe to show or log: credentials out of URLs, foreign error text short and plain.

Pure Python (no torch, no gradio). A ``--base-url`` may carry ``user:password@`` or an
``?api_key=`` parameter; anything that shows or logs a URL, or an error that may quote one,
passes it through `redact_url` / `redact_text` first. A model server's error body is someone
else's text: `plain_text` shortens it and removes what Markdown would turn into links or images.

>>> redact_url("http://bob:hunter2@gpu-box:8000/v1?api_key=abc&x=1")
'http://gpu-box:8000/v1?api_key=***&x=1'
>>> plain_text("see [here](http://evil.example/x) ![img](https://evil.example/a.png)", 200)
'see (here)((link removed) !(img)((link removed)'
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry credentials (compared in lower case, '-' read as '_').
SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "token", "access_token", "auth", "password", "secret", "sig", "signature"}
    | {"x_amz_signature", "x_amz_credential", "x_amz_security_token", "policy"}  # signed download URLs
)
URL_PATTERN = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
BARE_LINK_PATTERN = re.compile(r"\bwww\.[^\s'\"<>`]+", re.IGNORECASE)  # what linkify turns into a link
# What Markdown needs for a link, an image or an HTML tag, swapped for look-alikes that render as text
# (plain replacements, not backslash escapes: API clients and toasts show the string as it is).
DEFANG = str.maketrans({"[": "(", "]": ")", "<": "\u2039", ">": "\u203a"})  # single angle quotes
LINK_REMOVED = "(link removed)"
MIN_SECRET_CHARS = 4  # shorter known secrets are only removed as parts of URLs (else every 'a' goes)
DEFAULT_ERROR_CHARS = 300


def redact_url(url: str) -> str:
    """`url` without ``user:password@`` and with the values of credential parameters masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # malformed (e.g. a bad port or IPv6 bracket): keep only what cannot leak
        return _scrub_unparsable(url)
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _secret_param(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every URL in it redacted and each known secret (4+ characters) masked."""
    text = URL_PATTERN.sub(lambda m: redact_url(m.group(0)), text)
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, MASK)
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials `url` carries (password, user, credential parameter values), raw and decoded."""
    try:
        parts = urlsplit(url)
        found = [parts.password or "", parts.username or ""]
    except ValueError:
        return ()
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _secret_param(k)]
    raw_userinfo = parts.netloc.rpartition("@")[0]
    found += raw_userinfo.split(":", 1) if raw_userinfo else []
    return tuple(sorted({s for s in found + [unquote(s) for s in found] if s}, key=len, reverse=True))


def plain_text(text: str, limit: int = DEFAULT_ERROR_CHARS) -> str:
    """`text` as one short line that renders as itself: no link, image or HTML tag, at most `limit` chars.

    URLs become "(link removed)"; brackets and angle brackets become look-alikes, so the
    server's words stay readable in the Markdown status line, in a toast and over the API.
    """
    flat = " ".join(str(text)[: limit * 4].split())  # a 2 MB body is cut before any regex runs
    flat = BARE_LINK_PATTERN.sub(LINK_REMOVED, URL_PATTERN.sub(LINK_REMOVED, flat)).translate(DEFANG)
    if len(flat) > limit:
        flat = flat[: max(0, limit - 1)].rstrip() + "…"
    return flat


class RedactingFilter(logging.Filter):
    """A log filter that redacts URLs (and known secrets) in a record's message and arguments.

    Installed on third-party loggers that log full request URLs (httpx2 logs each request at
    INFO with ``str(url)``, which includes the password).
    """

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        record.msg = redact_text(str(record.msg), self.secrets)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True

    def _clean(self, value: object) -> object:
        if isinstance(value, (int, float)) or value is None:
            return value  # keeps %d and %f formatting working
        text = str(value)
        cleaned = redact_text(text, self.secrets)
        return value if cleaned == text and isinstance(value, str) else cleaned


def install_log_redaction(logger_names: tuple[str, ...], secrets: tuple[str, ...]) -> None:
    """Add one `RedactingFilter` per named logger (secrets merged into an existing one)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        existing = [f for f in logger.filters if isinstance(f, RedactingFilter)]
        if existing:
            existing[0].secrets = tuple(sorted({*existing[0].secrets, *secrets}, key=len, reverse=True))
        else:
            logger.addFilter(RedactingFilter(secrets))


def _secret_param(name: str) -> bool:
    return name.lower().replace("-", "_") in SECRET_PARAMS


def _scrub_unparsable(url: str) -> str:
    """Best effort for a URL urlsplit refuses: drop everything between '://' and the last '@'."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = rest.split("@")[-1]
    return _mask_query(f"{scheme}{sep}{rest}")


def _mask_query(url: str) -> str:
    """Mask credential parameter values in `url`'s query string without parsing the rest."""
    return re.sub(
        r"([?&])([^=&#]+)=([^&#]*)",
        lambda m: f"{m.group(1)}{m.group(2)}={MASK if _secret_param(m.group(2)) else m.group(3)}",
        url,
    )
