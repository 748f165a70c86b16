"""The URL rules: where the token may go, where a report file may come from, what base_url may be."""

from __future__ import annotations

import ipaddress

import pytest

from copilot_source import ConfigurationError, copilot_source
from copilot_source.github.urls import (
    address_problem,
    base_url_problem,
    download_url_problem,
    origin,
    parse,
    token_url_problem,
)

API = origin(parse("https://api.github.com"))


@pytest.mark.parametrize(
    "url",
    [
        "https://api.github.com",
        "https://API.GitHub.com:443",
        "https://api.octo-corp.ghe.com",
        "https://ghe.example.com/api/v3",
        "http://127.0.0.1:8080",
        "http://localhost:5000",
        "http://[::1]:9000",
    ],
)
def test_a_base_url_the_token_may_go_to(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.github.com", "plain http://"),
        # urlsplit sees 127.0.0.1 (loopback, http allowed); urllib3 connects to 192.0.2.2
        ("http://192.0.2.2:80\\@127.0.0.1", "backslash"),
        ("http://192.0.2.2:P\\@127.0.0.1", "backslash"),
        ("https://octo:hunter2@api.github.com", "user name or password"),
        ("https://api.github.com%2f@evil.example", "user name or password"),
        ("https://api.github.com?per_page=1", "query"),
        ("https://api.github.com#top", "fragment"),
        ("https://api.git hub.com", "whitespace"),
        ("https://api.github.com/\r\nX-Injected: 1", "whitespace or a control character"),
        ("https://api.github.com\x00.evil", "control character"),
        ("https://bücher.example", "outside ASCII"),
        ("ftp://api.github.com", "scheme"),
        ("api.github.com", "scheme"),
        ("https://", "no host"),
        ("https://api.github.com:99999", "not a valid URL"),
        ("https://2130706433", "unusual form"),
        ("https://127.1", "unusual form"),
        ("https://0x7f.0.0.1", "unusual form"),
    ],
)
def test_a_base_url_that_is_refused(url: str, problem: str) -> None:
    said = base_url_problem(url)
    assert said is not None and problem in said


def test_a_refused_base_url_is_invalid_config_naming_the_key_never_the_password() -> None:
    with pytest.raises(ConfigurationError) as refused:
        copilot_source(enterprise="octo", access_token="ghp_x1234567890", base_url="https://octo:hunter2@h.example")
    assert refused.value.code == "invalid_config"
    assert "`base_url` under [sources.copilot] (env SOURCES__COPILOT__BASE_URL)" in refused.value.message
    assert "hunter2" not in refused.value.message
    assert "octo:" not in refused.value.message


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.github.com/enterprises/e/copilot/billing/seats?page=2", True),
        ("https://api.github.com:443/enterprises/e?page=2", True),
        ("https://API.GITHUB.COM/x", True),
        ("http://api.github.com/x", False),
        ("https://api.github.com:8443/x", False),
        ("https://api.github.com.evil.example/x", False),
        ("https://evil.example/?https://api.github.com", False),
        ("https://evil.example\\@api.github.com/x", False),
        ("https://x@api.github.com/x", False),
    ],
)
def test_the_token_goes_to_the_base_urls_scheme_host_and_port_only(url: str, allowed: bool) -> None:
    assert (token_url_problem(url, API) is None) == allowed


@pytest.mark.parametrize(
    ("url", "previous", "problem"),
    [
        ("https://objects.githubusercontent.com/r/0.ndjson?sig=x", None, None),
        ("http://127.0.0.2:4000/files/0.ndjson?sig=x", None, None),
        ("http://127.0.0.2:4000/files/0.ndjson", "http", None),
        ("http://127.0.0.2:4000/files/0.ndjson", "https", "leaves https"),
        ("http://files.example/0.ndjson", None, "plain http://"),
        ("https://api.github.com/enterprises", None, "the API host"),
        ("http://api.github.com:8080/x", None, "plain http://"),
        ("https://api.github.com:8443/x", None, "the API host"),
        ("https://169.254.169.254/latest/meta-data/", None, "link-local or cloud metadata"),
        ("https://[fe80::1]/x", None, "link-local"),
        ("https://[fd00:ec2::254]/latest/meta-data/", None, "cloud metadata"),
        ("https://[::ffff:169.254.169.254]/x", None, "link-local"),
        ("https://100.100.100.200/latest/meta-data/", None, "cloud metadata"),
        ("https://metadata.google.internal/computeMetadata/v1/", None, "cloud metadata host"),
        ("https://0.0.0.0/x", None, "unspecified"),
        ("https://[::]/x", None, "unspecified"),
        ("https://2852039166/x", None, "unusual form"),
        ("https://files.example\\@169.254.169.254/x", None, "backslash"),
    ],
)
def test_where_a_report_file_may_come_from(url: str, previous: str | None, problem: str | None) -> None:
    before = origin(parse(f"{previous}://files.example")) if previous else None
    said = download_url_problem(url, API, before)
    assert (said is None) if problem is None else (said is not None and problem in said), said


@pytest.mark.parametrize(
    ("address", "refused"),
    [("169.254.169.254", True), ("0.0.0.0", True), ("224.0.0.1", True), ("127.0.0.2", False), ("140.82.112.3", False)],
)
def test_which_peer_addresses_a_download_may_reach(address: str, refused: bool) -> None:
    assert (address_problem(ipaddress.ip_address(address)) is not None) == refused
