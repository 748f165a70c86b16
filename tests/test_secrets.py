"""The token stays secret: never printed, logged, stored or loaded, and only sent to the API host."""

from __future__ import annotations

import base64
import gzip
import zlib
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from copilot_source import CopilotSourceError, Unreachable, find_source_error
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.github.redaction import redact, register_secret
from copilot_source.ops.runner import PIPELINE_NAME
from tests.conftest import TODAY, make_pipeline, run
from tests.failure_modes import tiny_enterprise
from tests.scripts import CHECK, fake_env, load, run_script

# recognisable, and shaped like real tokens so that a leak cannot hide behind an odd format
CANARY = "ghp_LeakCanary7Xq9Wz3Lm5Kp8Rt2Vb6Nd4Hf1"
WRONG_CANARY = "ghp_WrongCanary3Jk8Pz5Qm1Xw7Ty4Lr9Gs2Ue6"


def readable(path: Path) -> bytes:
    """A file's content as we can search it: gzip undone, parquet rows spelled out."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if path.suffix == ".parquet":
        data = str(pq.read_table(path).to_pylist()).encode()
    return data


def destination_text(database: Path) -> str:
    """Every row of every table, with dlt's compressed pipeline state decoded."""
    parts = []
    with duckdb.connect(str(database), read_only=True) as db:
        tables = db.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        for schema, table in tables:
            for row in db.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall():
                parts.append(repr(row))
            if table == "_dlt_pipeline_state":
                for (state,) in db.execute(f'SELECT state FROM "{schema}"."{table}"').fetchall():
                    parts.append(zlib.decompress(base64.b64decode(state)).decode())
    return "\n".join(parts)


def test_the_token_appears_nowhere_even_at_debug_level(isolated_dlt: Path) -> None:
    outputs = []
    with FakeGitHub(tiny_enterprise(), token=CANARY, today=TODAY) as fake:
        debug = {**fake_env(fake), "RUNTIME__LOG_LEVEL": "DEBUG"}
        loaded = load(isolated_dlt, debug, debug=True)
        outputs += [loaded.stdout, loaded.stderr]
        assert loaded.returncode == 0, loaded.stderr[-2000:]

        rejected = load(isolated_dlt, {**debug, "SOURCES__COPILOT__ACCESS_TOKEN": WRONG_CANARY}, debug=True)
        outputs += [rejected.stdout, rejected.stderr]
        fake.metrics_enabled = False  # the token works, the load fails on the reports
        refused = load(isolated_dlt, debug, debug=True)
        outputs += [refused.stdout, refused.stderr]
        checked = run_script(CHECK, isolated_dlt, debug, "--legacy", debug=True)
        outputs += [checked.stdout, checked.stderr]
        signatures = {seen.query["sig"] for seen in fake.calls("files")}
        api_tokens = {seen.authorization for seen in fake.calls("api")}

    assert (refused.returncode, rejected.returncode, checked.returncode) == (1, 1, 1)
    assert "[metrics_disabled]" in refused.stderr
    assert "[invalid_credentials]" in rejected.stderr
    everything = "\n".join(outputs)
    # the capture really holds dlt's and urllib3's DEBUG lines, signed downloads included
    assert "DEBUG:urllib3.connectionpool" in everything
    assert '"GET /files/' in everything
    assert "DEBUG" in loaded.stdout + loaded.stderr
    assert signatures
    assert api_tokens == {f"Bearer {CANARY}", f"Bearer {WRONG_CANARY}"}

    for secret in (CANARY, WRONG_CANARY, *signatures):
        assert secret not in everything

    files = [p for p in isolated_dlt.rglob("*") if p.is_file() and p.suffix != ".duckdb"]
    traces = [p for p in files if p.name == "trace.pickle"]
    assert traces
    # the last run's trace (a failed load with the right token) is among what was searched
    assert b"metrics_disabled" in traces[0].read_bytes()
    assert any("load_package_state" in p.name for p in files)
    for path in files:
        content = readable(path)
        for secret in (CANARY, WRONG_CANARY, *signatures):
            assert secret.encode() not in content, path

    stored = destination_text(isolated_dlt / f"{PIPELINE_NAME}.duckdb")
    assert "newest_day" in stored  # the decoded pipeline state is part of what was searched
    for secret in (CANARY, WRONG_CANARY, *signatures):
        assert secret not in stored


def test_the_token_is_never_sent_across_a_redirect(tmp_path: Path, fake: FakeGitHub) -> None:
    fake.redirect_seats_to = fake.files_url  # the API answers 302 to another host
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(PipelineStepFailed) as failure:
        run(pipeline, fake, resources=("seats",))
    error = find_source_error(failure.value)
    assert isinstance(error, Unreachable)
    assert "redirected" in error.cause
    # the other host was never asked: a redirect is not followed, with or without the token
    assert fake.calls("files") == []
    assert [s.authorization for s in fake.calls("api", "/billing/seats")] == [f"Bearer {fake.token}"]


@pytest.mark.parametrize(
    ("text", "kept", "hidden"),
    [
        ("Authorization: Bearer ghp_abcdefgh12345678", "Authorization: Bearer ***", "ghp_abcdefgh12345678"),
        ("token gho_ABCDEFGH12345678 expired", "token *** expired", "gho_ABCDEFGH12345678"),
        ("ghu_abcdefgh12345678 ghs_abcdefgh12345678", "*** ***", "ghs_abcdefgh12345678"),
        ("pat github_pat_11ABCDEFG0_abcdefXYZ123", "pat ***", "github_pat_11ABCDEFG0_abcdefXYZ123"),
        (
            "GET https://files.example/r/0.ndjson?sv=2025&se=2026&sig=AbC%2Fdef123 failed",
            "GET https://files.example/r/0.ndjson?*** failed",
            "AbC%2Fdef123",
        ),
        (
            'http://127.0.0.2:4242 "GET /files/u/0.ndjson?expires=17&sig=deadbeef99 HTTP/1.1" 200 512',
            'http://127.0.0.2:4242 "GET /files/u/0.ndjson?*** HTTP/1.1" 200 512',
            "deadbeef99",
        ),
        ("{'sig': 'deadbeef99', 'expires': 17}", "{'sig': '***', 'expires': 17}", "deadbeef99"),
    ],
)
def test_redact_hides_tokens_and_signed_query_strings(text: str, kept: str, hidden: str) -> None:
    assert redact(text) == kept
    assert hidden not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "https://api.github.com/enterprises/octo/copilot/metrics/reports/users-1-day?day=2026-01-31",
        '127.0.0.1:80 "GET /enterprises/octo/copilot/billing/seats?per_page=100&page=2 HTTP/1.1" 200',
        "https://docs.github.com/rest/copilot/copilot-usage-metrics#get-copilot-users-usage",
        "the token is wrong, expired or revoked; 3/4 tokens=5",
    ],
)
def test_redact_keeps_what_is_not_secret(text: str) -> None:
    assert redact(text) == text


def test_exceptions_never_carry_a_token() -> None:
    register_secret("odd-secret-without-prefix")
    error = CopilotSourceError(f"GitHub said {CANARY} and odd-secret-without-prefix", f"Replace {CANARY}")
    for text in (str(error), error.message, repr(error), error.cause, error.fix, str(error.as_dict())):
        assert CANARY not in text
        assert "odd-secret-without-prefix" not in text
