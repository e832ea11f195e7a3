"""An optional LLM-as-judge: any OpenAI-compatible Chat Completions server (an fmtune endpoint, vLLM, OpenAI) rates
each answer 1-10 against the reference, as H2O LLM Studio's "GPT" metric does with MT-Bench's "single answer
grading with reference" prompt. Overlap metrics (ROUGE, BLEU) miss a correct answer worded differently; a judge
does not, at the price of noise when the judge model is small. Nothing here imports torch."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from fmtune.errors import UserError

JUDGE_PROMPT = (
    "[Instruction]\n"
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the "
    "user question displayed below. Your evaluation should consider correctness and helpfulness. You will be given "
    "a reference answer and the assistant's answer. Begin your evaluation by comparing the assistant's answer with "
    "the reference answer in a short explanation. Identify any mistakes. Be as objective as possible. After "
    "providing your explanation, you must rate the response on a scale of 1 to 10 by strictly following this "
    'format: "[[rating]]", for example: "Rating: [[5]]".\n'
    "\n"
    "[Question]\n"
    "{question}\n"
    "\n"
    "[The Start of Reference Answer]\n"
    "{reference}\n"
    "[The End of Reference Answer]\n"
    "\n"
    "[The Start of Assistant's Answer]\n"
    "{answer}\n"
    "[The End of Assistant's Answer]"
)

PREFLIGHT_TIMEOUT_S = 5.0
CLIP = 200  # characters of a bad reply or error body kept in a verdict's explanation
_RATING = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")


def _env_key() -> str | None:
    return os.environ.get("OPENAI_API_KEY") or None


@dataclass(frozen=True)
class JudgeSettings:
    """Where the judge is and how hard to press it. `base_url` ends where the OpenAI routes begin (".../v1")."""

    base_url: str
    model: str
    api_key: str | None = field(default_factory=_env_key, repr=False)  # repr=False: never printed in logs
    workers: int = 8  # parallel requests, as H2O LLM Studio sends
    timeout_s: float = 60.0
    max_tokens: int = 256


@dataclass(frozen=True)
class Verdict:
    """The judge on one answer: `score` is None when it gave no usable rating or could not be asked."""

    score: float | None
    explanation: str


def parse_rating(reply: str) -> float | None:
    """The rating in a judge's reply: the last "[[N]]" (a judge may quote the format before it rates), if in 1..10."""
    found = _RATING.findall(reply)
    if not found:
        return None
    score = float(found[-1])
    return score if 1.0 <= score <= 10.0 else None


def judge(settings: JudgeSettings, rows: Sequence[tuple[str, str, str]]) -> list[Verdict]:
    """Rate each (question, reference, answer) row, in order. Requests run `workers` at a time; a failed request
    gives that row a Verdict(None, reason) and never stops the others, so one flaky answer costs one score."""
    url = _base_url(settings) + "/chat/completions"
    if not rows:
        return []
    timeout = httpx.Timeout(settings.timeout_s)
    with httpx.Client(headers=_headers(settings), timeout=timeout) as client, \
            ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        return list(pool.map(lambda row: _ask(client, url, settings, row), rows))


def judge_scores(verdicts: Sequence[Verdict]) -> dict[str, float]:
    """The judge's summary for one model: the mean score over the answers it rated, and the share it rated (a low
    share says the judge is too small or its replies were cut, and the mean stands on few rows)."""
    scores = [v.score for v in verdicts if v.score is not None]
    if not scores:
        return {"judge_parsed": 0.0}
    return {"judge_score": sum(scores) / len(scores), "judge_parsed": len(scores) / len(verdicts)}


def check_judge(settings: JudgeSettings) -> list[str]:
    """Fail in seconds, before models are loaded and answers generated, when the judge cannot be reached; the ids
    of the models it serves (the first is the judge when none is named)."""
    base = _base_url(settings)
    url = base + "/models"
    fix = "start the endpoint (e.g. `fmtune deploy JOB`), or drop --judge-url"
    try:
        reply = httpx.get(url, headers=_headers(settings), timeout=PREFLIGHT_TIMEOUT_S)
    except httpx.ConnectError as exc:
        raise UserError(f"The judge at {base} cannot be reached (connection refused or unknown host: {exc}); "
                        f"{fix}.") from exc
    except httpx.TimeoutException as exc:
        raise UserError(f"The judge at {base} did not answer GET {url} within {PREFLIGHT_TIMEOUT_S:g} s; "
                        f"{fix}.") from exc
    except httpx.HTTPError as exc:
        raise UserError(f"The judge at {base} cannot be asked ({type(exc).__name__}: {exc}); {fix}.") from exc
    if reply.is_success:
        try:
            return [m["id"] for m in reply.json()["data"] if isinstance(m.get("id"), str)]
        except (ValueError, KeyError, TypeError, AttributeError):
            return []
    if reply.status_code in (401, 403):
        fix = "give the judge's key (the OPENAI_API_KEY environment variable), or drop --judge-url"
    elif reply.status_code == 404:
        fix = "give the URL up to the OpenAI routes, e.g. http://127.0.0.1:8080/v1, or drop --judge-url"
    raise UserError(f"The judge at {base} answered HTTP {reply.status_code} to GET {url}; {fix}.")


def _base_url(settings: JudgeSettings) -> str:
    """The judge's URL without a trailing slash, or a UserError naming it: a typo should not cost every row."""
    value = settings.base_url.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--judge-url={settings.base_url!r} is not an http(s) URL with a host; give one like "
                        "http://127.0.0.1:8080/v1 (the server's OpenAI routes).")
    return value.rstrip("/")


def _headers(settings: JudgeSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}


def _ask(client: httpx.Client, url: str, settings: JudgeSettings, row: tuple[str, str, str]) -> Verdict:
    """One judge request; every failure becomes the verdict's explanation instead of an exception."""
    question, reference, answer = row
    body = {
        "model": settings.model,
        "messages": [{"role": "user", "content": JUDGE_PROMPT.format(question=question, reference=reference,
                                                                     answer=answer)}],
        "temperature": 0,
        "max_tokens": settings.max_tokens,
    }
    try:
        reply = client.post(url, json=body)
    except httpx.TimeoutException:
        return Verdict(None, f"timed out after {settings.timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Verdict(None, f"request failed: {type(exc).__name__}: {exc}"[:CLIP])
    if not reply.is_success:
        return Verdict(None, f"HTTP {reply.status_code}: {reply.text}"[:CLIP])
    try:
        content = _content(reply.json())
    except ValueError:
        content = None
    if content is None:
        return Verdict(None, f"unexpected reply: {reply.text}"[:CLIP])
    return Verdict(parse_rating(content), content)


def _content(payload: Any) -> str | None:
    """choices[0].message.content, or None when the reply has another shape."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None
