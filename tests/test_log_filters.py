"""Log scrubbing: secrets in URLs go, PII in free text goes, ids and times stay as they are."""

import logging

import pytest
import requests

from config.log_filters import ScrubPiiFilter, scrub_line
from feedback.tokens import feedback_token_encode
from tests.factories import api_key_for
from tests.support import web_server

# Signed for a key id no test creates: PostgreSQL's sequences are not reset between
# transactional tests, so a small id (it was 7) is sometimes the real server test's own key,
# and its "bogus" token then validates.
TOKEN = feedback_token_encode(
    key_id=2_000_000_000, trace_id="tr-1", run_id="", expires_at=4_102_444_800
)
# What identifies this token in a log line: its signed body, whatever prefix it is shown with.
TOKEN_BODY = TOKEN.removeprefix("fbt_")

# Lines our processes really write; each used to lose a UUID part, an id or a time.
CORRELATABLE = [
    "Task triage.process_feedback[3f2b9c1e-4a7d-4c11-9e0b-123456789012] received",
    "Task triage.process_feedback[12345678-1234-1234-1234-123456789012] succeeded in 0.012s",
    "Task triage.build_queue[0b8e4e3a-5567-4f6a-8901-234567890123] retry: Retry in 30s",
    "queue item 48213377 claimed by user 12 (lease until 2026-11-29 22:58:13.123456+00:00)",
    "event 1234567890123456 linked to run 4111111111111112 of trace 7",
    "project 3: 20000 events in batch 1234567, tool call 98765432 failed",
    "AXES: Cleaned up 0 expired access attempts older than 2026-11-29 22:58:13.123456+00:00",
    "job 6b2d1f0c9e8a4b7d8c6e5f4a3b2c1d0e took 13.123456 s",
    '[2026-11-29 23:24:50 +0000] "GET /p/acme/queue/items/48213377 HTTP/1.1" 200 51.204ms',
    "[2026-11-29 23:24:47,301] [INFO] Spawning worker-1 with PID: 22269",
    'AXES: Successful login by {user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36'
    ' (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36"}',
]


@pytest.mark.parametrize("line", CORRELATABLE)
def test_task_uuids_ids_and_times_stay_byte_identical(line):
    assert scrub_line(line) == line
    record = logging.LogRecord("celery", logging.INFO, __file__, 1, "%s", (line,), None)
    ScrubPiiFilter().filter(record)
    assert record.getMessage().encode() == line.encode()


def test_pii_in_free_text_is_still_redacted():
    line = (
        "complaint from bob@example.com at 203.0.113.9: call me at 5550134567 or +1 415-555-0134, "
        "(415) 555-0134 or 555.123.4567, card 4111 1111 1111 1111, ssn 123-45-6789"
    )
    assert scrub_line(line) == (
        "complaint from <EMAIL_ADDRESS> at <IP_ADDRESS>: call me at <PHONE_NUMBER> or "
        "<PHONE_NUMBER>, <PHONE_NUMBER> or <PHONE_NUMBER>, card <CREDIT_CARD>, ssn <US_SSN>"
    )


def test_feedback_tokens_and_query_string_secrets_are_redacted():
    assert scrub_line(f"Bad Request: /api/v1/feedback-tokens/{TOKEN}") == (
        "Bad Request: /api/v1/feedback-tokens/<FEEDBACK_TOKEN>"
    )
    assert scrub_line(f"token {TOKEN} expired") == "token <FEEDBACK_TOKEN> expired"
    assert scrub_line("GET /api/v1/feedback?api_key=tk_live_8f3a9c&trace=7&token=abc HTTP/1.1") == (
        "GET /api/v1/feedback?api_key=<SECRET>&trace=7&token=<SECRET> HTTP/1.1"
    )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_real_web_server_logs_no_feedback_token(project, tmp_path):
    key = api_key_for(project)
    with web_server(tmp_path, WEB_ACCESS_LOG="1") as url:
        minted = requests.post(
            f"{url}/api/v1/feedback-tokens",
            json={"trace_id": "tr-1"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).json()
        token_url = f"{url}/api/v1/feedback-tokens/{minted['token']}"
        # Each errors and is logged by Django (4xx warnings) and granian (access line).
        assert requests.post(token_url, json={"rating": "sideways"}, timeout=10).status_code == 400
        assert requests.get(token_url, timeout=10).status_code == 405
        assert requests.delete(token_url, timeout=10).status_code == 401
        bogus = f"{url}/api/v1/feedback-tokens/{TOKEN}?api_key=tk_live_8f3a9c"
        assert requests.post(bogus, json={}, timeout=10).status_code in (401, 403)
    log = (tmp_path / "web.log").read_text()
    assert minted["token"].removeprefix("fbt_") not in log
    assert TOKEN_BODY not in log and "tk_live_8f3a9c" not in log
    assert log.count("/api/v1/feedback-tokens/<FEEDBACK_TOKEN>") >= 7, log  # 4 access + 3+ 4xx
    assert '"GET /api/v1/feedback-tokens/<FEEDBACK_TOKEN> HTTP/1.1" 405' in log
