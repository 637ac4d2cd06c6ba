"""Settings from the environment or a ``.env`` file, all prefixed ``PEYGIR_``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from peygir.config.roles import ALL, Role, parse_roles


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PEYGIR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite://./peygir.db"
    # What this process does (config/roles.py): "all", or web, bots, worker, scheduler,
    # comma-separated. Several processes need PostgreSQL; SQLite keeps one process, "all".
    role: str = "all"
    # Many cities on one PostgreSQL (DESIGN.md): each city's processes run with its name, and
    # its data lives in a schema of that name (tickets, citizens, staff, units, dashboards);
    # empty: the database's own schema. SQLite: one file a city, so the name only labels it.
    city: str = Field("", pattern=r"^([a-z][a-z0-9_]{0,39})?$")
    # Seconds a claimed reply or voice note may stay claimed before other processes count its
    # claimer dead (longer than any messenger call or transcription may take).
    outbox_claim_timeout: float = Field(120.0, ge=1.0)
    transcription_timeout: float = Field(900.0, ge=1.0)
    # SQLite: "full" syncs every commit (the default: a power cut loses nothing committed);
    # "normal" syncs at checkpoints only, faster on a slow disk. ?synchronous= in the URL wins.
    sqlite_sync: Literal["full", "normal"] = "full"
    # Operating it: /metrics only when asked for, and for loopback / trusted proxies unless a
    # bearer token is set; /readyz turns 503 when a queue is stuck this many seconds.
    metrics: bool = False
    metrics_token: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    ready_outbox_lag: float = Field(300.0, gt=0)
    ready_transcription_lag: float = Field(900.0, gt=0)
    pack: Path | None = None  # a pack folder; None means the built-in pack in config/pack
    web_host: str = "127.0.0.1"
    web_port: int = 8137
    media_dir: Path = Path("./media")
    timezone: str = "Asia/Tehran"  # what citizens and staff see; the database keeps UTC

    telegram_token: SecretStr | None = None
    telegram_api: str = "https://api.telegram.org"
    bale_token: SecretStr | None = None
    bale_api: str = "https://tapi.bale.ai"
    # The bots' usernames (no @), for the public petitions page's sign links
    # (t.me/<name>?start=petition-<id>, ble.ir/<name>?start=…); unset: web chat links only.
    telegram_username: str = Field("", pattern=r"^[A-Za-z0-9_]{0,64}$")
    bale_username: str = Field("", pattern=r"^[A-Za-z0-9_]{0,64}$")
    # Webhooks instead of long polling: the public HTTPS base URL that reaches `peygir serve`
    # and a secret from which the webhook paths and Telegram's secret_token are derived.
    webhook_base: str = ""
    webhook_secret: SecretStr | None = None
    # The public address of `peygir serve` (https://...), where Instagram and Eitaa citizens
    # open a unit's evidence photos as links; defaults to webhook_base. Unset: no photo links.
    public_url: str = ""
    # Forwarded reports carry their photos as signed links under public_base that expire
    # after media_link_days (a back office may open one days later). The key comes from
    # media_link_secret, else from webhook_secret; with neither, no photo links are sent.
    media_link_secret: SecretStr | None = None
    media_link_days: int = Field(30, ge=1, le=366)
    # A faster-whisper model name (fetched from its hub) or a folder. Unset: the Whisper base
    # from PyPI when the offline-model extra is installed (assembled once into ~/.cache/peygir),
    # else the hub's "base".
    whisper_model: str = ""
    # The first keyword of each of the pack's services given to Whisper as hint words: more
    # municipal words heard right, at the risk of a hint word appearing in a garbled note.
    whisper_hotwords: bool = True
    scheduler_interval: float = 60.0  # seconds between deadline scans (escalation, auto-close)
    open311_keys: str = ""  # comma-separated API keys
    # Instagram Direct (instagrapi): on when the username is set. The session file keeps the
    # login between restarts; with it, the password may be left out.
    instagram_username: str | None = None
    instagram_password: SecretStr | None = None
    instagram_session: Path = Path("./instagram-session.json")
    instagram_poll_interval: float = Field(60.0, ge=5.0)  # seconds between polls
    instagram_poll_jitter: float = Field(0.3, ge=0.0, le=0.9)  # ± this fraction, at random
    instagram_max_backoff: float = Field(1800.0, ge=1.0)  # seconds, after repeated trouble
    # Eitaa: the mini-app (on when the token is set) and the sending API for notifications.
    eitaa_token: SecretStr | None = None
    eitaa_api: str = "https://eitaayar.ir/api"
    eitaa_sdk_url: str = "https://developer.eitaa.com/eitaa-web-app.js"
    eitaa_max_age: int = Field(86400, ge=60)  # seconds an initData stays acceptable
    eitaa_push_after: float = Field(20.0, ge=0.0)  # a reply unseen in the mini-app this long
    # The staff panel's cookies carry `Secure` when the request came over TLS; set this to
    # true (always) or false (never) to override, e.g. behind a proxy that hides the scheme.
    panel_secure_cookies: bool | None = None
    # X-Forwarded-For and -Proto are believed only from these proxies (comma-separated
    # addresses or networks, e.g. "127.0.0.1,10.0.0.0/8"); empty: from nobody, and the
    # connecting address is the client (what the login and code-guess throttles key on).
    trusted_proxies: str = ""
    # Personal data on a closed ticket (the citizen's phone, name, chat ids) is anonymised
    # this many days after it closed; the ticket stays for the statistics.
    retention_days: int = Field(730, ge=1)
    # Decimal places kept of a ticket's coordinates wherever they are public (Open311's GET):
    # 3 is about 110 m, enough to find the street, not the door.
    public_location_decimals: int = Field(3, ge=0, le=6)
    # The API's interactive docs at /api/docs, for signed-in staff only; off: not served.
    api_docs: bool = False
    # Learning while it runs: the classifier is retrained (in a worker thread) once this many
    # new labels (operators' subject corrections, citizens' picks) have arrived, or every
    # retrain_every seconds if any have; the database is checked for them every
    # retrain_check seconds, so labels added by another process count too.
    retrain_after_labels: int = Field(25, ge=1)
    retrain_every: float = Field(3600.0, ge=1.0)
    retrain_check: float = Field(60.0, ge=0.05)
    # Who may frame the Eitaa mini-app (CSP frame-ancestors); every other page: nobody.
    eitaa_frame_ancestors: str = "https://eitaa.com https://*.eitaa.com"
    # The map (web chat and panel): an OpenStreetMap-style tile server the city runs or
    # chooses, as a URL with {z}/{x}/{y} (and optionally {s}); empty: the districts alone.
    map_tiles: str = ""
    map_attribution: str = "© OpenStreetMap contributors"  # shown on the map, as tiles require
    # A Nominatim-compatible geocoder's base URL (its /search is asked): a typed address
    # becomes a point and is routed by district; empty, or no answer in time: the address
    # goes to the centre as text.
    geocoder: str = ""
    geocoder_timeout: float = Field(3.0, gt=0, le=30)  # seconds a citizen's reply may wait
    geocoder_interval: float = Field(1.0, ge=0, le=60)  # Nominatim's policy: ≤ 1 request/s
    geocoder_agent: str = "peygir/0.1 (city 137 contact centre)"  # Nominatim wants one
    # The city's Open311 back office (the pack's endpoints.yaml): seconds between sending
    # passes (a filed report also wakes it) and between asking for its updates.
    forward_interval: float = Field(5.0, gt=0, le=3600)
    forward_fetch_interval: float = Field(60.0, gt=0, le=86400)
    forward_max_delay: float = Field(60.0, gt=0, le=3600)  # backoff cap while it is away
    webhook_interval: float = Field(2.0, gt=0, le=3600)  # seconds between webhook passes
    # Area alerts (issue 20): the local hour (in `timezone`) from which each subscriber's
    # daily digest of reports and resolutions in their area is queued, once a day.
    alert_digest_hour: int = Field(8, ge=0, le=23)

    @field_validator("map_tiles", "geocoder")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("map_tiles")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if value and not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("a tile URL names {z}, {x} and {y}")
        return value

    @field_validator(
        "pack", "telegram_token", "bale_token", "instagram_username", "instagram_password",
        "eitaa_token", "webhook_secret", "panel_secure_cookies", "metrics_token",
        "media_link_secret", mode="before",
    )
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("media_link_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # Links are checked offline by anyone who has one: a short secret could be guessed.
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("at least 16 characters")
        return value

    @field_validator("role")
    @classmethod
    def _known_roles(cls, value: str) -> str:
        parse_roles(value)  # raises, naming the unknown word
        return value

    @property
    def roles(self) -> frozenset[Role]:
        return parse_roles(self.role)

    @model_validator(mode="after")
    def _one_process_on_sqlite(self) -> Settings:
        if self.database_url.startswith("sqlite") and self.roles != ALL:
            raise ValueError("PEYGIR_ROLE: roles split work between processes, which share "
                             "a PostgreSQL database; with SQLite run one process, role all")
        return self

    @model_validator(mode="after")
    def _city_schema_in_url(self) -> Settings:
        # The store reads the schema from the URL (tortoise's ?schema= sets the search path);
        # public stays on it for the extensions every city shares (pg_trgm).
        if self.city and not self.database_url.startswith("sqlite"):
            self.database_url = _unless_given(self.database_url, "schema", f"{self.city},public")
        return self

    @model_validator(mode="after")
    def _sqlite_sync_in_url(self) -> Settings:
        # The store reads the setting from the URL, where a parameter given by hand wins.
        if self.sqlite_sync != "full" and self.database_url.startswith("sqlite:"):
            self.database_url = _unless_given(self.database_url, "synchronous", self.sqlite_sync)
        return self

    @property
    def public_base(self) -> str:
        """Where citizens reach `peygir serve` from outside: public_url, else webhook_base."""
        return (self.public_url or self.webhook_base).rstrip("/")

    @property
    def open311_key_list(self) -> list[str]:
        return [k.strip() for k in self.open311_keys.split(",") if k.strip()]


def _unless_given(url: str, key: str, value: str) -> str:
    """``url`` with ``key=value`` among its parameters, unless it has that key already (a
    parameter given by hand wins)."""
    if re.search(rf"[?&]{key}=", url, re.IGNORECASE):
        return url
    return f"{url}{'&' if '?' in url else '?'}{key}={value}"
