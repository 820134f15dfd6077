"""Source adapters by kind."""

from __future__ import annotations

from handoff_intake.sources.base import SourceAdapter
from handoff_intake.sources.calendly import CalendlyAdapter
from handoff_intake.sources.facebook import FacebookLeadAdsAdapter
from handoff_intake.sources.generic import GenericAdapter
from handoff_intake.sources.hubspot import HubSpotAdapter
from handoff_intake.sources.jotform import JotformAdapter
from handoff_intake.sources.linkedin import LinkedInLeadSyncAdapter
from handoff_intake.sources.pardot import PardotAdapter
from handoff_intake.sources.salesforce import SalesforceAdapter
from handoff_intake.sources.tally import TallyAdapter
from handoff_intake.sources.token_json import (
    GoogleFormsAdapter,
    GravityFormsAdapter,
    MakeAdapter,
    ZapierAdapter,
)
from handoff_intake.sources.typeform import TypeformAdapter
from handoff_intake.sources.unbounce import UnbounceAdapter
from handoff_intake.sources.webflow import WebflowAdapter


class UnknownSourceKind(KeyError):
    """No adapter exists for the configured source kind."""


_ADAPTERS: dict[str, SourceAdapter] = {
    adapter.kind: adapter
    for adapter in (
        CalendlyAdapter(),
        FacebookLeadAdsAdapter(),
        GenericAdapter(),
        GoogleFormsAdapter(),
        GravityFormsAdapter(),
        HubSpotAdapter(),
        JotformAdapter(),
        LinkedInLeadSyncAdapter(),
        MakeAdapter(),
        PardotAdapter(),
        SalesforceAdapter(),
        TallyAdapter(),
        TypeformAdapter(),
        UnbounceAdapter(),
        WebflowAdapter(),
        ZapierAdapter(),
    )
}


def adapter_for(kind: str) -> SourceAdapter:
    """The adapter for a source kind."""
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise UnknownSourceKind(kind) from None


def known_kinds() -> list[str]:
    """Every source kind an adapter exists for, sorted."""
    return sorted(_ADAPTERS)
