"""LinkedIn Lead Sync: the webhook names a lead form response; its answers come from the API.

Endpoint validation (learn.microsoft.com/linkedin/shared/api-guide/webhook-validation): a GET
with `challengeCode`, answered with JSON `challengeCode` and `challengeResponse` = hex
HMAC-SHA256(client secret, challengeCode). Notifications: a POST whose `X-LI-Signature` is hex
HMAC-SHA256(client secret, "hmacsha256=" + raw body). A `LEAD_ACTION` notification names
`leadGenFormResponse`; the response (`formResponse.answers` by `questionId`, `submitter`) and its
form (`content.questions` with `predefinedField`) are read from option `api_base_url`
(learn.microsoft.com/linkedin/marketing/lead-sync/leadsync) with option `access_token`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from handoff_intake.sources.base import (
    AdapterResult,
    InboundRequest,
    ParsedLead,
    PlainResponse,
    SourceConfig,
)
from handoff_intake.sources.fetching import fetch_json, required_option
from handoff_intake.sources.payloads import (
    Answer,
    as_text,
    fail,
    json_object,
    lead_from_answers,
    member,
)
from handoff_intake.sources.signing import configured_secrets, hmac_sha256, verify_hmac

RESPONSE_URN_PREFIX = "urn:li:leadGenFormResponse:"
_FORM_ID = re.compile(r"urn:li:leadGenForm:(\d+)")
_PREDEFINED_FIELDS = {
    "FIRST_NAME": "first_name",
    "LAST_NAME": "last_name",
    "EMAIL": "email",
    "WORK_EMAIL": "email",
    "PHONE_NUMBER": "phone",
    "WORK_PHONE_NUMBER": "phone",
    "COMPANY_NAME": "company",
    "JOB_TITLE": "job_title",
    "COUNTRY": "country",
    "INDUSTRY": "industry",
    "COMPANY_SIZE": "employee_count",
}


class LinkedInLeadSyncAdapter:
    """LinkedIn Lead Gen Form notifications."""

    kind: ClassVar[str] = "linkedin"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        if request.method.upper() == "GET":
            return _answer_challenge(request, config)
        verify_hmac(
            config,
            b"hmacsha256=" + request.body,
            request.header("x-li-signature"),
            "hex",
            "X-LI-Signature",
        )
        body = json_object(request)
        response_urn = member(body, "leadGenFormResponse", str, [], "a string")
        delivery_id = as_text(body.get("notificationId")) or response_urn
        if body.get("leadAction", "CREATED") != "CREATED":
            return AdapterResult(delivery_id=delivery_id, leads=[])
        if not response_urn.startswith(RESPONSE_URN_PREFIX):
            raise fail(["leadGenFormResponse"], f"expected a {RESPONSE_URN_PREFIX}... URN")
        lead = await _lead(http, config, response_urn.removeprefix(RESPONSE_URN_PREFIX), body)
        return AdapterResult(delivery_id=delivery_id, leads=[lead])


def _answer_challenge(request: InboundRequest, config: SourceConfig) -> AdapterResult:
    code = request.query.get("challengeCode")
    if not code:
        raise fail(["challengeCode"], "a validation request needs challengeCode")
    # LinkedIn validates against the app's current client secret: the first configured one.
    answer = {
        "challengeCode": code,
        "challengeResponse": hmac_sha256(configured_secrets(config)[0], code.encode(), "hex"),
    }
    return AdapterResult(
        delivery_id=None,
        leads=[],
        response=PlainResponse(200, json.dumps(answer).encode(), "application/json"),
    )


async def _lead(
    http: httpx.AsyncClient, config: SourceConfig, response_id: str, notification: dict[str, Any]
) -> ParsedLead:
    base_url = str(config.options.get("api_base_url", "https://api.linkedin.com/rest")).rstrip("/")
    headers = {
        "Authorization": f"Bearer {required_option(config, 'access_token')}",
        "LinkedIn-Version": str(config.options.get("api_version", "202411")),
        "X-Restli-Protocol-Version": "2.0.0",
    }
    response = await fetch_json(
        http,
        f"{base_url}/leadFormResponses/{quote(response_id, safe='')}",
        "LinkedIn lead form response",
        headers=headers,
    )
    form_urn = str(response.get("versionedLeadGenFormUrn") or notification.get("leadGenForm") or "")
    questions: dict[str, dict[str, Any]] = {}
    if match := _FORM_ID.search(form_urn):
        form = await fetch_json(
            http, f"{base_url}/leadForms/{match[1]}", "LinkedIn lead form", headers=headers
        )
        content = form.get("content") if isinstance(form.get("content"), dict) else {}
        questions = {
            str(question.get("questionId")): question
            for question in (content or {}).get("questions") or []
            if isinstance(question, dict)
        }
    form_response = response.get("formResponse")
    raw_answers = form_response.get("answers") if isinstance(form_response, dict) else None
    if not isinstance(raw_answers, list):
        raise fail(["formResponse", "answers"], "the fetched lead has no answers")
    answers = [
        answer
        for raw in raw_answers
        if isinstance(raw, dict) and (answer := _answer(raw, questions)) is not None
    ]
    submitter = as_text(response.get("submitter"))
    return lead_from_answers(
        answers,
        config,
        attributes={
            "lead_form_response": RESPONSE_URN_PREFIX + response_id,
            "lead_form": form_urn or None,
            "lead_type": as_text(response.get("leadType") or notification.get("leadType")),
            "test_lead": as_text(response.get("testLead")),
        },
        external_id=submitter,
    )


def _answer(raw: dict[str, Any], questions: dict[str, dict[str, Any]]) -> Answer | None:
    question_id = str(raw.get("questionId"))
    details = raw.get("answerDetails") if isinstance(raw.get("answerDetails"), dict) else {}
    text_answer = (details or {}).get("textQuestionAnswer")
    choice_answer = (details or {}).get("multipleChoiceAnswer")
    if isinstance(text_answer, dict):
        value = as_text(text_answer.get("answer"))
    elif isinstance(choice_answer, dict):
        value = as_text(choice_answer.get("options"))
    else:
        value = None
    if value is None:
        return None
    question = questions.get(question_id, {})
    return Answer(
        key=as_text(question.get("name")) or question_id,
        value=value,
        lead_field=_PREDEFINED_FIELDS.get(str(question.get("predefinedField"))),
        aliases=(question_id,),
    )
