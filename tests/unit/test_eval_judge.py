"""The LLM judge: ratings are read from real-looking judge replies, requests go to a real local HTTP server that
speaks the Chat Completions shape (order kept, failures isolated per row, key and temperature sent), and the
preflight turns an unreachable judge or a bad URL into a UserError that says what to do."""

from __future__ import annotations

import json
import socket
import string
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmtune.errors import UserError
from fmtune.evaluation.judge import (
    JUDGE_PROMPT,
    JudgeSettings,
    Verdict,
    check_judge,
    judge,
    judge_scores,
    parse_rating,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluation-judge.md"
START, END = "[The Start of Assistant's Answer]\n", "\n[The End of Assistant's Answer]"


# --- parse_rating -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("reply", "expected"), [
    ("The assistant's answer matches the reference in substance.\n\nRating: [[8]]", 8.0),
    ("Mostly right, but the date is wrong (1969, not 1968).\nRating: [[6.5]]", 6.5),
    ("Rating: [[ 3 ]]", 3.0),
    ("Rating: [[10]]", 10.0),
    ("Rating: [[1]]", 1.0),
    ('I must rate strictly as "[[rating]]", e.g. "Rating: [[5]]". The answer is wrong.\nRating: [[2]]', 2.0),
    ("First thought: [[9]]. On reflection the answer misses the second step.\nRating: [[4]]", 4.0),
    ("Rating: [[0]]", None),
    ("Rating: [[11]]", None),
    ("Rating: [[7]] ... actually Rating: [[42]]", None),  # the last rating decides, and it is out of range
    ("The answer is fine. Rating: 7/10", None),
    ("Rating: [7]", None),
    ("Rating: [[seven]]", None),
    ("", None),
])
def test_parse_rating_reads_the_last_rating_in_range(reply: str, expected: float | None):
    assert parse_rating(reply) == expected


@given(st.text().filter(lambda s: "[[" not in s), st.integers(min_value=1, max_value=10),
       st.text().filter(lambda s: "[[" not in s))
def test_any_rating_in_any_text_parses_back(before: str, n: int, after: str):
    assert parse_rating(f"{before}Rating: [[{n}]]{after}") == float(n)


# --- the prompt and its documentation ---------------------------------------------------------------------------

def test_prompt_has_exactly_the_three_placeholders_and_asks_for_the_rating_format():
    fields = {name for _, name, _, _ in string.Formatter().parse(JUDGE_PROMPT) if name is not None}
    assert fields == {"question", "reference", "answer"}
    assert "Rating: [[5]]" in JUDGE_PROMPT and "1 to 10" in JUDGE_PROMPT


def test_the_documentation_shows_the_prompt_verbatim():
    assert JUDGE_PROMPT in DOC.read_text(encoding="utf-8")


# --- judge() against a real local server -----------------------------------------------------------------------

class FakeJudge:
    """A Chat Completions server whose rating is len(answer) % 10 + 1, so a verdict shows which row it rates.
    Answers "BOOM" get HTTP 500, "MUTE" a reply without a rating, "SHAPE" JSON of another shape, "SLOW" a late
    reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.in_flight = self.most_in_flight = 0
        self.delay = 0.0
        self.lock = threading.Lock()

    def chat(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((headers, body))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            prompt = body["messages"][0]["content"]
            answer = prompt[prompt.index(START) + len(START): prompt.rindex(END)]
            if answer == "BOOM":
                return 500, {"error": "the judge fell over"}
            if answer == "SLOW":
                time.sleep(1.5)
            if answer == "SHAPE":
                return 200, {"result": "no choices here"}
            rating = len(answer) % 10 + 1
            text = "I cannot decide." if answer == "MUTE" else f"Compared with the reference.\nRating: [[{rating}]]"
            return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        finally:
            with self.lock:
                self.in_flight -= 1


def expected_rating(answer: str) -> float:
    return float(len(answer) % 10 + 1)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeJudge]]:
    fake = FakeJudge()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self.reply(200, {"object": "list", "data": [{"id": "judge", "object": "model"}]})
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/chat/completions":
                self.reply(404, {"error": "not found"})
                return
            self.reply(*fake.chat(dict(self.headers), body))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", fake
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def fake(server: tuple[str, FakeJudge]) -> FakeJudge:
    fake = server[1]
    fake.requests.clear()
    fake.delay = 0.0
    fake.most_in_flight = 0
    return fake


ANSWERS = ["Paris.", "BOOM", "It is 4.", "MUTE", "def f():\n    return {'a': 1}  # braces {x} stay as written",
           "SHAPE", "The quick brown fox.", "x" * 23]


def test_verdicts_come_back_in_row_order_and_a_failed_row_spoils_only_itself(server, fake: FakeJudge):
    rows = [(f"question {i} {{not a placeholder}}", f"reference {i}", a) for i, a in enumerate(ANSWERS)]
    verdicts = judge(JudgeSettings(server[0] + "/", "judge", api_key="sk-test", workers=4), rows)

    assert len(verdicts) == len(ANSWERS) and all(isinstance(v, Verdict) for v in verdicts)
    for answer, verdict in zip(ANSWERS, verdicts, strict=True):
        if answer == "BOOM":
            assert verdict.score is None and verdict.explanation.startswith("HTTP 500:")
            assert "fell over" in verdict.explanation
        elif answer == "MUTE":
            assert verdict == Verdict(None, "I cannot decide.")
        elif answer == "SHAPE":
            assert verdict.score is None and verdict.explanation.startswith("unexpected reply:")
            assert len(verdict.explanation) <= 200
        else:
            assert verdict.score == expected_rating(answer), answer
            assert verdict.explanation.endswith(f"Rating: [[{int(expected_rating(answer))}]]")

    assert len(fake.requests) == len(ANSWERS)
    for headers, body in fake.requests:
        assert headers.get("Authorization") == "Bearer sk-test"
        assert body["temperature"] == 0 and body["model"] == "judge" and body["max_tokens"] == 256
        assert body["messages"][0]["role"] == "user" and len(body["messages"]) == 1
    sent = {body["messages"][0]["content"] for _, body in fake.requests}
    assert JUDGE_PROMPT.format(question="question 4 {not a placeholder}", reference="reference 4",
                               answer=ANSWERS[4]) in sent

    scored = [expected_rating(a) for a in ANSWERS if a not in ("BOOM", "MUTE", "SHAPE")]
    summary = judge_scores(verdicts)
    assert summary["judge_score"] == pytest.approx(sum(scored) / len(scored))
    assert summary["judge_parsed"] == pytest.approx(len(scored) / len(ANSWERS))


def test_no_key_sends_no_authorization_and_the_environment_key_is_the_default(server, fake: FakeJudge,
                                                                              monkeypatch: pytest.MonkeyPatch):
    judge(JudgeSettings(server[0], "judge", api_key=None), [("q", "r", "a")])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = JudgeSettings(server[0], "judge", max_tokens=64)
    assert "sk-from-env" not in repr(settings)
    judge(settings, [("q", "r", "a")])
    (first, _), (second, body) = fake.requests
    assert "Authorization" not in first
    assert second["Authorization"] == "Bearer sk-from-env" and body["max_tokens"] == 64


def test_requests_run_in_parallel_up_to_workers(server, fake: FakeJudge):
    fake.delay = 0.2
    rows = [("q", "r", f"answer {i}") for i in range(8)]
    verdicts = judge(JudgeSettings(server[0], "judge", api_key=None, workers=4), rows)
    assert [v.score for v in verdicts] == [expected_rating(a) for _, _, a in rows]
    assert 2 <= fake.most_in_flight <= 4

    fake.most_in_flight = 0
    judge(JudgeSettings(server[0], "judge", api_key=None, workers=1), rows[:3])
    assert fake.most_in_flight == 1


def test_a_late_reply_times_out_that_row_only(server, fake: FakeJudge):
    verdicts = judge(JudgeSettings(server[0], "judge", api_key=None, timeout_s=0.5),
                     [("q", "r", "SLOW"), ("q", "r", "fine")])
    assert verdicts[0].score is None and "timed out" in verdicts[0].explanation
    assert verdicts[1].score == expected_rating("fine")


def test_an_unreachable_judge_gives_each_row_a_reason(closed_port: int):
    verdicts = judge(JudgeSettings(f"http://127.0.0.1:{closed_port}/v1", "judge", api_key=None), [("q", "r", "a")])
    assert verdicts[0].score is None and verdicts[0].explanation.startswith("request failed:")
    assert judge_scores(verdicts) == {"judge_parsed": 0.0}


def test_judge_scores_of_nothing_parsed():
    assert judge_scores([]) == {"judge_parsed": 0.0}
    assert judge_scores([Verdict(None, "timed out"), Verdict(None, "no rating")]) == {"judge_parsed": 0.0}
    assert judge_scores([Verdict(10.0, ""), Verdict(5.0, ""), Verdict(None, ""), Verdict(3.0, "")]) == {
        "judge_score": 6.0, "judge_parsed": 0.75}


# --- check_judge ---------------------------------------------------------------------------------------------------

@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_preflight_passes_against_a_live_judge_and_names_its_models(server, fake: FakeJudge):
    assert check_judge(JudgeSettings(server[0], "judge", api_key=None)) == ["judge"]


def test_preflight_names_an_unreachable_url_and_the_fix(closed_port: int):
    url = f"http://127.0.0.1:{closed_port}/v1"
    with pytest.raises(UserError) as caught:
        check_judge(JudgeSettings(url, "judge", api_key=None))
    message = str(caught.value)
    assert url in message and "connection refused" in message.lower()
    assert "start the endpoint" in message and "--judge-url" in message


def test_preflight_reports_a_non_2xx_answer(server):
    url = server[0].removesuffix("/v1") + "/wrong/v1"
    with pytest.raises(UserError) as caught:
        check_judge(JudgeSettings(url, "judge", api_key=None))
    assert url in str(caught.value) and "HTTP 404" in str(caught.value)


@pytest.mark.parametrize("bad", ["ftp://x", "localhost:8000", "127.0.0.1:8000/v1", "http://", ""])
def test_a_url_that_is_not_http_with_a_host_is_refused_by_name(bad: str):
    with pytest.raises(UserError) as caught:
        check_judge(JudgeSettings(bad, "judge", api_key=None))
    assert repr(bad) in str(caught.value)
    with pytest.raises(UserError):
        judge(JudgeSettings(bad, "judge", api_key=None), [("q", "r", "a")])
