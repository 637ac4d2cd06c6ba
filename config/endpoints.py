"""The back offices a city's reports are forwarded to (``endpoints.yaml``, optional).

With this file peygir is the city's front door and the back office stays the system of
record: each report of a service an endpoint claims is sent there with Open311 GeoReport v2
``POST requests``, and the back office's updates come back as the ticket's state::

    endpoints:
      - name: city137                          # a short name, shown in the panel
        base_url: https://137.example-city.ir/open311/v2
        api_key_env: CITY137_OPEN311_KEY       # or api_key: "..." (the env var is better)
        jurisdiction_id: example-city.ir       # optional
        services: all                          # or a list of the pack's service codes
        codes: {pothole: "PH-01"}              # the back office's code, where it differs
        idempotent: true                       # it honours Idempotency-Key (see README)
        timeout: 10                            # seconds per call
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from peygir.config.strict import Strict

_NAME = r"^[a-z0-9_\-]{1,64}$"
_CODE = re.compile(r"^[A-Za-z0-9_.\-:]{1,64}$")
_ENV = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class Endpoint(Strict):
    name: str = Field(pattern=_NAME)
    base_url: str = Field(max_length=512)
    api_key: str | None = Field(None, min_length=1, max_length=256)
    api_key_env: str | None = Field(None, pattern=_ENV)
    jurisdiction_id: str | None = Field(None, min_length=1, max_length=128)
    services: Literal["all"] | tuple[str, ...] = "all"
    codes: dict[str, str] = Field(default_factory=dict)
    idempotent: bool = True
    timeout: float = Field(10.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        value = value.rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) URL without a query")
        return value

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value.values() if not _CODE.match(str(code))]
        if bad:
            raise ValueError(f"not a service code: {bad[0]!r}")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> Endpoint:
        if (self.api_key is None) == (self.api_key_env is None):
            raise ValueError("give api_key or api_key_env (one of them)")
        return self

    def remote_code(self, service_code: str) -> str:
        return self.codes.get(service_code, service_code)


def endpoint_problems(endpoint: Endpoint, municipal: set[str], referral: set[str],
                      claimed: dict[str, str]) -> list[tuple[str, str]]:
    """(field, message) for what is wrong with one endpoint against the pack's services;
    ``claimed`` maps each service to the endpoint that took it first (updated here)."""
    problems: list[tuple[str, str]] = []
    named = municipal if endpoint.services == "all" else set(endpoint.services)
    for code in sorted(named):
        if code in referral:
            problems.append(("services", f"{code!r} is a referral to an outside body"))
        elif code not in municipal:
            problems.append(("services", f"unknown service code {code!r}"))
        elif code in claimed and endpoint.services != "all":
            problems.append(("services", f"{code!r} already goes to {claimed[code]!r}"))
        else:
            claimed.setdefault(code, endpoint.name)
    for code in sorted(set(endpoint.codes) - named):
        problems.append(("codes", f"{code!r} is not one of this endpoint's services"))
    return problems
