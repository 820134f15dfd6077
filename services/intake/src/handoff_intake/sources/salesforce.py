"""Salesforce outbound messages: SOAP `notifications` of Lead sObjects, acknowledged in SOAP.

Each message carries `OrganizationId` and one or more `Notification` elements, each with an
`Id` (the delivery id Salesforce reuses when it retries) and an `sObject` of the workflow's
object with the fields chosen for the message; the receiver answers `<Ack>true</Ack>` or
Salesforce redelivers (Salesforce API guide, "Understanding Outbound Messaging").
Outbound messages are not signed: the message must name the organisation in option
`organization_id`, and the endpoint URL configured in Salesforce carries the source's secret as
`?token=...` (or option `token_param`). XML is parsed with defusedxml (no entities, no XXE).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar
from xml.etree.ElementTree import ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from handoff_intake.sources.base import (
    AdapterResult,
    InboundRequest,
    ParsedLead,
    PlainResponse,
    SignatureError,
    SourceConfig,
)
from handoff_intake.sources.payloads import Answer, fail, lead_from_answers
from handoff_intake.sources.signing import query_token, verify_token

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ACKNOWLEDGEMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack>"
    b"</notificationsResponse>"
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)
_FIELD_HINTS = {"Title": "job_title", "MobilePhone": "phone", "NumberOfEmployees": "employee_count"}


class SalesforceAdapter:
    """Salesforce workflow outbound messages about Leads."""

    kind: ClassVar[str] = "salesforce"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_token(config, query_token(request, config), "endpoint URL token")
        try:
            envelope = fromstring(request.body)
        except (ParseError, DefusedXmlException) as error:
            raise fail([], f"not acceptable XML ({type(error).__name__})") from None
        notifications = envelope.find(f".//{{{OUTBOUND_NS}}}notifications")
        if notifications is None:
            raise fail(["notifications"], "no outbound-message notifications element")
        _check_organisation(notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId"), config)

        leads = []
        for index, notification in enumerate(notifications.iter(f"{{{OUTBOUND_NS}}}Notification")):
            notification_id = (notification.findtext(f"{{{OUTBOUND_NS}}}Id") or "").strip()
            if not notification_id:
                raise fail(["Notification", index, "Id"], "field required")
            sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
            if sobject is None:
                raise fail(["Notification", index, "sObject"], "field required")
            leads.append(_lead(sobject, notification_id, config))
        if not leads:
            raise fail(["notifications", "Notification"], "no notifications in the message")
        return AdapterResult(
            delivery_id=",".join(sorted(lead.delivery_id or "" for lead in leads)),
            leads=leads,
            response=PlainResponse(200, ACKNOWLEDGEMENT, "text/xml"),
        )


def _check_organisation(sent: str | None, config: SourceConfig) -> None:
    expected = str(config.options.get("organization_id") or "")
    if not expected:
        raise SignatureError("the source has no organization_id configured")
    # Salesforce ids come as 15 (case-sensitive) or 18 characters; the first 15 identify.
    if not sent or not hmac.compare_digest(sent.strip()[:15].encode(), expected[:15].encode()):
        raise SignatureError("the message comes from another Salesforce organisation")


def _lead(sobject: Any, notification_id: str, config: SourceConfig) -> ParsedLead:
    answers = []
    record_id = None
    for element in sobject:
        name = element.tag.rsplit("}", 1)[-1]
        value = (element.text or "").strip()
        if name == "Id":
            record_id = value
        elif value:
            answers.append(Answer(name, value, lead_field=_FIELD_HINTS.get(name)))
    sobject_type = str(sobject.get(XSI_TYPE) or "").rsplit(":", 1)[-1]
    lead = lead_from_answers(
        answers,
        config,
        attributes={"salesforce_id": record_id, "salesforce_object": sobject_type},
        external_id=record_id,
    )
    return replace(lead, delivery_id=notification_id)
