"""Keep secrets out of everything we print or log: GitHub tokens and signed download URLs."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

REDACTED = "***"
# classic, OAuth, user-to-server, server-to-server and refresh tokens, and fine-grained PATs
TOKEN_PATTERN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{8,}|github_pat_[A-Za-z0-9_]{8,})")
# a whole URL, or a request target with a query string as urllib3 logs it ("GET /path?q HTTP/1.1")
URL_PATTERN = re.compile(r"https?://[^\s\"'<>]+|(?<![^\s\"'(=])/[^\s\"'<>?]*\?[^\s\"'<>]+")
# signature-like parameters outside any URL (e.g. a logged dict of query parameters)
SIGNATURE_PATTERN = re.compile(
    r"(?i)\b(sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|access_token|token)"
    r"(=|\"?\s*:\s*\"?|'\s*:\s*')([^&\s\"'<>,}]{4,})"
)
# query parameters that we send to the API ourselves and that carry no credential
SAFE_QUERY_PARAMS = frozenset({"day", "page", "per_page"})

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Redact `value` wherever it appears, whatever its format (e.g. a token of a test server)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def safe_url(url: str) -> str:
    """`url` with its query string hidden unless it is one of our own harmless API parameters."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    keys = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if keys and keys <= SAFE_QUERY_PARAMS:
        return url
    return parts._replace(query=REDACTED, fragment="").geturl()


def redact(text: str) -> str:
    """`text` without tokens, registered secrets or signed URL query strings."""
    if not text:
        return text
    text = URL_PATTERN.sub(lambda m: safe_url(m.group(0)), text)
    text = SIGNATURE_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = TOKEN_PATTERN.sub(REDACTED, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites every log record it sees so that it carries no secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            # the formatter would print the traceback text unfiltered
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()
# the loggers that may see URLs or tokens: dlt's (ours go through it), and urllib3, which logs
# every request line at DEBUG. Never the root logger: that belongs to the host application.
LOGGERS = ("dlt", "urllib3", "urllib3.connectionpool", "requests", "copilot_source")


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach the redacting filter to the loggers and handlers that could carry secrets."""
    for name in (*LOGGERS, *extra_loggers):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
