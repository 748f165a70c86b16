"""Where a request may go: one URL parser, and the rules for the token and for report files.

requests hands every URL to urllib3, which connects to the host `urllib3.util.parse_url` finds,
so that parser decides what a URL means. A URL that Python's `urlsplit` reads differently
(`http://192.0.2.2:80\\@127.0.0.1` is 192.0.2.2 to one and 127.0.0.1 to the other) is refused
rather than guessed at, and so is anything that needs lenient reading: backslashes,
whitespace, control characters, user names and passwords, numbers posing as IP addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}
# cloud metadata services that are not link-local (169.254.0.0/16 and fe80::/10 are refused whole)
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS (IPv6)
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A URL the source will not send a request to; the text never holds a query or a password."""


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port: what must match before the token may travel."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def _ip(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _looks_numeric(host: str) -> bool:
    """`127.1`, `0x7f.0.0.1` or `2130706433`: not IP addresses to `ipaddress`, but to the resolver."""
    try:
        socket.inet_aton(host)
    except (OSError, ValueError):
        return False
    return True


def parse(url: str) -> Url:
    """`url` as urllib3 will connect to it; `UrlRefused` if anything about it is ambiguous."""
    if not isinstance(url, str) or not url:
        raise UrlRefused("it is empty")
    if "\\" in url:
        raise UrlRefused("it contains a backslash")
    if any(c <= " " or c == "\x7f" for c in url):
        raise UrlRefused("it contains whitespace or a control character")
    if not url.isascii():
        raise UrlRefused("it contains characters outside ASCII (write a host name in its xn-- form)")
    try:
        parsed = parse_url(url)
        other = urlsplit(url)
        other_port = other.port
    except (LocationParseError, ValueError):
        raise UrlRefused("it is not a valid URL (scheme://host[:port]/path)") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlRefused(f"its scheme is {scheme or 'missing'!r}, not https")
    if parsed.auth is not None or "@" in (other.netloc or ""):
        raise UrlRefused("it holds a user name or password (user@host)")
    host = (parsed.host or "").strip("[]").lower()
    if not host:
        raise UrlRefused("it names no host")
    if (other.scheme.lower(), (other.hostname or "").lower(), other_port or DEFAULT_PORTS[scheme]) != (
        scheme,
        host,
        parsed.port or DEFAULT_PORTS[scheme],
    ):
        raise UrlRefused("URL parsers disagree about its host or port")
    if _ip(host) is None and _looks_numeric(host):
        raise UrlRefused("its host is an IP address in an unusual form (write it as a.b.c.d)")
    return parsed


def origin(parsed: Url) -> Origin:
    scheme = (parsed.scheme or "").lower()
    return Origin(scheme, (parsed.host or "").strip("[]").lower(), parsed.port or DEFAULT_PORTS[scheme])


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be the API's base URL, or None. The token goes to its scheme, host and port."""
    try:
        parsed = parse(url)
    except UrlRefused as exc:
        return str(exc)
    if parsed.query is not None or parsed.fragment is not None or "?" in url or "#" in url:
        return "it has a query (?...) or a fragment (#...)"
    where = origin(parsed)
    if where.scheme == "http" and not is_loopback_host(where.host):
        return "it is plain http:// (the token would travel unencrypted)"
    return None


def token_url_problem(url: str, api: Origin) -> str | None:
    """Why the token may not be sent to `url` (it must go to `api` exactly), or None."""
    try:
        where = origin(parse(url))
    except UrlRefused as exc:
        return str(exc)
    if where != api:
        return f"it points at {where}, not at the API host {api}"
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why no report file may be fetched from `address`: cloud metadata and other local-only places."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_link_local or address in METADATA_ADDRESSES:
        return f"{address} is a link-local or cloud metadata address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    return None


def download_url_problem(url: str, api: Origin, previous: Origin | None = None) -> str | None:
    """Why a report file link (or a redirect to `url` from `previous`) may not be followed, or None.

    https only (plain http on loopback, for the demo and tests, and never after https), never the
    API host (the file host is another one), never a link-local or metadata address.
    """
    try:
        where = origin(parse(url))
    except UrlRefused as exc:
        return str(exc)
    if where.scheme == "http":
        if not is_loopback_host(where.host):
            return f"it is plain http:// ({where})"
        if previous is not None and previous.scheme == "https":
            return f"it leaves https for plain http:// ({where})"
    if where.host == api.host:
        return f"it points at the API host {where.host}"
    if where.host in METADATA_HOSTS:
        return f"{where.host} is a cloud metadata host"
    address = _ip(where.host)
    return address_problem(address) if address is not None else None


def describe(url: str) -> str:
    """`scheme://host[:port]/path` of `url`: what a message may show of a signed link."""
    try:
        parsed = parse(url)
    except UrlRefused:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}"
    return f"{origin(parsed)}{parsed.path or ''}"


def host_of(url: str) -> str:
    """The host a message may name for `url` (never a user name, password or query)."""
    try:
        return origin(parse(url)).host
    except UrlRefused:
        return urlsplit(url).hostname or "an unknown host"
