"""Body decoding and lead building shared by the source adapters (pure, no I/O)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from handoff_intake.sources.base import InboundRequest, ParsedLead, PayloadError, SourceConfig

# The lead fields intake understands; email travels separately in ParsedLead.email.
LEAD_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "country",
    "industry",
    "employee_count",
    "form_type",
    "campaign",
    "lead_source",
)
# A field map may also name a full-name field ("name"), split into first and last.
MAPPABLE_FIELDS = ("email", "name", *LEAD_FIELDS)

# How form tools commonly label fields, after lowercasing and dropping non-alphanumerics.
# "name" is a full name, split into first and last when those are not given separately.
_LABEL_GUESSES: dict[str, str] = {
    **dict.fromkeys(
        [
            "email",
            "emailaddress",
            "mail",
            "workemail",
            "businessemail",
            "youremail",
            "respondentemail",
        ],
        "email",
    ),
    **dict.fromkeys(["firstname", "first", "givenname", "fname", "forename"], "first_name"),
    **dict.fromkeys(["lastname", "last", "surname", "familyname", "lname"], "last_name"),
    **dict.fromkeys(["name", "fullname", "yourname", "contactname"], "name"),
    **dict.fromkeys(
        ["company", "companyname", "organization", "organisation", "organizationname", "account"],
        "company",
    ),
    **dict.fromkeys(["jobtitle", "title", "role", "position", "jobrole"], "job_title"),
    **dict.fromkeys(
        ["phone", "phonenumber", "mobile", "mobilephone", "telephone", "tel", "mobilenumber"],
        "phone",
    ),
    **dict.fromkeys(["country", "countryregion", "countrycode"], "country"),
    "industry": "industry",
    **dict.fromkeys(
        [
            "employees",
            "employeecount",
            "numberofemployees",
            "numemployees",
            "companysize",
            "noofemployees",
        ],
        "employee_count",
    ),
    **dict.fromkeys(["formtype", "requesttype"], "form_type"),
    "campaign": "campaign",
    **dict.fromkeys(["leadsource", "source"], "lead_source"),
}


_EMAIL_SHAPE = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")


@dataclass(frozen=True)
class Answer:
    """One value a tool sent, under the identifiers a field map may name it by."""

    key: str
    value: str
    lead_field: str | None = None
    aliases: tuple[str, ...] = ()

    def known_as(self, name: str) -> bool:
        wanted = name.casefold()
        return any(identifier.casefold() == wanted for identifier in (self.key, *self.aliases))


def fail(loc: Iterable[str | int], message: str) -> PayloadError:
    """A PayloadError pointing at one place in the body."""
    where = ["body", *loc]
    return PayloadError(
        f"{'.'.join(str(part) for part in where)}: {message}", [{"loc": where, "msg": message}]
    )


def json_body(request: InboundRequest) -> Any:
    """The body parsed as JSON."""
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise fail([], f"not valid JSON ({error})") from None


def json_object(request: InboundRequest) -> dict[str, Any]:
    """The body parsed as a JSON object."""
    return expect(json_body(request), dict, [], "a JSON object")


T = TypeVar("T")


def expect(value: Any, kind: type[T], loc: Iterable[str | int], described: str) -> T:
    """`value` if it has the expected type, else a PayloadError at `loc`."""
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise fail(loc, f"expected {described}")
    return value


def member(
    container: Mapping[str, Any], name: str, kind: type[T], loc: list[str | int], described: str
) -> T:
    """`container[name]`, required and of the expected type."""
    if name not in container or container[name] is None:
        raise fail([*loc, name], "field required")
    return expect(container[name], kind, [*loc, name], described)


def optional(
    container: Mapping[str, Any],
    name: str,
    kind: type[T],
    loc: list[str | int],
    described: str,
    default: T,
) -> T:
    """`container[name]` when present, of the expected type; `default` when absent or null."""
    value = container.get(name)
    return default if value is None else expect(value, kind, [*loc, name], described)


def form_body(request: InboundRequest) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; repeated names are joined with ', '."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise fail([], "form body is not UTF-8") from None
    return _joined(parse_qsl(text, keep_blank_values=True))


def multipart_body(request: InboundRequest) -> dict[str, str]:
    """A multipart/form-data body's text parts by name (files are not leads; they are skipped)."""
    content_type = request.header("content-type") or ""
    if "multipart/form-data" not in content_type.lower() or "boundary=" not in content_type:
        raise fail([], "expected multipart/form-data with a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
    )
    if not message.is_multipart():
        raise fail([], "multipart body has no parts")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            pairs.append((name, payload.decode(part.get_content_charset() or "utf-8")))
        except (LookupError, UnicodeDecodeError):
            raise fail([name], "part is not valid text") from None
    return _joined(pairs)


def form_or_multipart_body(request: InboundRequest) -> dict[str, str]:
    """A form post, whichever of the two HTML encodings it uses."""
    content_type = (request.header("content-type") or "").lower()
    if content_type.startswith("multipart/form-data"):
        return multipart_body(request)
    return form_body(request)


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in pairs:
        values[name] = f"{values[name]}, {value}" if name in values else value
    return values


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested JSON as dotted paths (`a.b`, `items.0.c`) to string values; nulls are dropped and
    lists of plain values joined (a multiple choice is one answer)."""
    if isinstance(value, Mapping):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value):
        items = enumerate(value)
    else:
        text = as_text(value)
        return {prefix: text} if prefix and text is not None else {}
    flat: dict[str, str] = {}
    for key, child in items:
        flat.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def as_text(value: Any) -> str | None:
    """A scalar or a list of scalars as one string; None and empty strings as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        parts = [text for item in value if (text := as_text(item)) is not None]
        return ", ".join(parts) or None
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = str(value).strip()
    return text or None


def answers_from(values: Mapping[str, Any]) -> list[Answer]:
    """Plain name/value pairs (a form post) as answers."""
    return [Answer(key, text) for key, value in values.items() if (text := as_text(value))]


def lead_from_answers(
    answers: Iterable[Answer],
    config: SourceConfig,
    attributes: Mapping[str, str | None] | None = None,
    external_id: str | None = None,
) -> ParsedLead:
    """A lead from a tool's answers: the source's field map first, then the tool's own field
    types, then common labels; whatever is left is kept as attributes."""
    remaining = [answer for answer in answers if answer.value]
    chosen: dict[str, str] = {}

    def take(lead_field: str, answer: Answer) -> None:
        chosen[lead_field] = answer.value
        remaining.remove(answer)

    field_map = config.options.get("field_map") or {}
    for lead_field, identifier in field_map.items():
        if lead_field in MAPPABLE_FIELDS and (
            found := next((a for a in remaining if a.known_as(str(identifier))), None)
        ):
            take(lead_field, found)
    for answer in list(remaining):
        if answer.lead_field and answer.lead_field not in chosen:
            take(answer.lead_field, answer)
    if config.options.get("guess_fields", True):
        for answer in list(remaining):
            guess = _guess(answer)
            if guess and guess not in chosen:
                take(guess, answer)

    if "email" not in chosen and (
        found := next((a for a in remaining if _EMAIL_SHAPE.fullmatch(a.value)), None)
    ):
        # Tools that key answers by opaque ids (Gravity Forms, Jotform) still carry one email.
        take("email", found)

    full_name = chosen.pop("name", None)
    if full_name and not (chosen.get("first_name") or chosen.get("last_name")):
        first, _, last = full_name.partition(" ")
        chosen["first_name"] = first
        if last.strip():
            chosen["last_name"] = last.strip()

    kept = {key: value for key, value in (attributes or {}).items() if value}
    for answer in remaining:
        kept.setdefault(answer.key, answer.value)
    if "campaign" not in chosen and kept.get("utm_campaign"):
        chosen["campaign"] = kept["utm_campaign"]
    return ParsedLead(
        email=chosen.pop("email", None),
        fields={name: chosen[name] for name in LEAD_FIELDS if name in chosen},
        attributes=kept,
        external_id=external_id,
    )


def _guess(answer: Answer) -> str | None:
    for identifier in (answer.key, *answer.aliases):
        guess = _LABEL_GUESSES.get(re.sub(r"[^a-z0-9]", "", identifier.casefold()))
        if guess:
            return guess
    return None
