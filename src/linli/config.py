"""Settings read from LINLI_* environment variables; embedded SQLite by default."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")
DEMO_SANDBOX_SECRET = "linli-sandbox-demo-secret"  # noqa: S105 (published on purpose: demo only)


class UnsafeProductionSettings(RuntimeError):
    """`LINLI_ENV=production` with settings that must not reach production; says which."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Refusing to start with LINLI_ENV=production:\n{listed}")


def shared_beside_checkout() -> Path | None:
    """The `shared/` folder beside the source checkout (or beside a folder above it) holding
    GS1's EPCIS schemas, as development and CI machines keep it; None when there is none."""
    checkout = Path(__file__).resolve().parents[2]
    for folder in (checkout, *checkout.parents):
        candidate = folder.parent / "shared"
        if (candidate / "data" / "epcis" / "xsd").is_dir():
            return candidate
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="production: refuse to start with the payment sandbox, the demo sandbox "
        "secret, insecure cookies or no secret key (see docs/security.md)",
    )
    payment_provider: str = Field(
        default="sandbox",
        description="The payment provider this deployment means to use. Only the sandbox "
        "exists so far (new payments go through it whatever this says), and production "
        "refuses it",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means SQLite at var/linli.sqlite3",
    )
    var_dir: Path = DEFAULT_VAR_DIR
    shared_dir: Path | None = Field(
        default_factory=shared_beside_checkout,
        description="GS1 reference data kept outside the project; its data/epcis/xsd/2.0 and "
        "1.2 hold the official EPCIS XML schemas that XML capture validates against (without "
        "them, XML capture answers 415). Default: a `shared/` folder beside the checkout",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs cookies; when empty a random key is created once in var/secret.key",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="`linli serve` processes (uvicorn workers). On PostgreSQL, one per core",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections each process keeps (requests beyond it wait for "
        "one). Keep web_workers x (db_pool_size + db_max_overflow + 1: the live rooms' LISTEN "
        "connection), plus the `linli worker` processes' pools, below the server's "
        "max_connections",
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra PostgreSQL connections a process may open under load and closes "
        "again; under sustained load this opens and closes connections all the time, so 0",
    )
    db_pre_ping_idle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A pooled PostgreSQL connection idle longer than this is pinged before "
        "use (a dead one is replaced); one used more recently is not. 0: ping every reuse",
    )
    checkout_batch_size: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Group commit (PostgreSQL): at most this many waiting group-buy orders of "
        "one campaign item are placed by one statement and one commit in each process; 1 "
        "places every order on its own",
    )
    callback_batch_size: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Group commit (PostgreSQL): at most this many waiting successful payment "
        "notifications of one provider are applied by one statement and one commit in each "
        "process; 1 applies every notification on its own",
    )
    lean_routes: bool = Field(
        default=True,
        description="Serve the flash sale's hot endpoints (placing a group-buy order, the "
        "sandbox payment notification) by their lean routes (linli.lean), which skip FastAPI's "
        "routing and dependency solving; false: through FastAPI like every other route",
    )
    access_log: bool | None = Field(
        default=None,
        description="`linli serve` logs one line per request. Unset: on in development, off "
        "with LINLI_ENV=production (a line per request costs CPU at high rates)",
    )
    run_dispatcher: bool = Field(
        default=True, description="Run the outbox dispatcher inside the server process"
    )
    dispatcher_poll_seconds: float = 0.5
    dispatcher_coalesce_seconds: float = Field(
        default=0.002,
        description="After a wake-up the dispatcher's pass starts this much later, so the "
        "commits of that moment's other requests are claimed and handled in the same batch",
    )
    dispatcher_batch_size: int = 50
    dispatcher_lease_seconds: int = 60
    dispatcher_max_attempts: int = 8
    max_body_bytes: int = Field(default=1_048_576, description="Largest JSON or form body")
    max_upload_bytes: int = Field(default=8_388_608, description="Largest multipart upload")
    session_days: int = 14
    secure_cookies: bool = False
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated proxy addresses whose X-Forwarded-For is believed",
    )
    login_max_failures: int = 5
    login_window_minutes: int = 15
    signup_max_per_address: int = Field(
        default=10, ge=1, description="Sign-ups allowed from one address per signup window"
    )
    signup_max_per_phone: int = Field(
        default=3, ge=1, description="Sign-up attempts allowed for one phone number per window"
    )
    signup_window_minutes: int = Field(default=60, ge=1)
    default_locale: str = "zh_Hans"
    timezone: str = "Asia/Shanghai"
    sql_echo: bool = False
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where this app is reachable; the sandbox payment provider posts its "
        "signed notifications to this address plus /api/v1/payments/callbacks/sandbox",
    )
    payment_sandbox_secret: SecretStr = Field(
        default=SecretStr(DEMO_SANDBOX_SECRET),
        description="HMAC-SHA256 key shared with the sandbox payment provider. The default "
        "suits the embedded demo only: set your own wherever the sandbox is reachable",
    )
    mqtt_url: str = Field(
        default="",
        description="MQTT broker for cold-chain sensor readings (mqtt://127.0.0.1:1883); "
        "empty: no subscription. `linli serve` subscribes to linli/sensors/# when set",
    )
    mqtt_topic: str = "linli/sensors/#"
    mqtt_username: str = Field(default="", description="The app's MQTT broker user")
    mqtt_password: SecretStr = Field(default=SecretStr(""), description="Its broker password")
    mqtt_tls: bool = Field(default=False, description="Connect to the broker over TLS")
    mqtt_ca_file: str = Field(
        default="", description="CA certificate (PEM) to verify the broker with; empty: system CAs"
    )
    trace_webhook_allow_private: bool = Field(
        default=False,
        description="Let EPCIS subscriptions deliver to private, loopback and link-local "
        "addresses (tests, a closed network); off: such webhook URLs are refused (SSRF)",
    )
    trace_webhook_max_failures: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed deliveries after which an EPCIS subscription is "
        "deactivated",
    )
    trace_webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=30, description="How long a webhook delivery may take"
    )
    trace_page_rate: int = Field(
        default=60,
        description="Anonymous requests a minute per address to the public trace pages "
        "(/t/...); 0: no limit",
    )
    media_rtmp_url: str = Field(
        default="",
        description="Where broadcasters publish (OBS: Settings, Stream, Custom, its server), "
        "e.g. rtmp://media.example.cn:1935/live; empty: no media server, the live room says "
        "the stream is offline (docs/live.md, Video)",
    )
    media_hls_url: str = Field(
        default="",
        description="Where browsers fetch a room's HLS playlist (<this>/room-<id>.m3u8), e.g. "
        "http://127.0.0.1:8080/hls or /hls behind the same proxy; empty: no video in the room",
    )
    media_dir: Path | None = Field(
        default=None,
        description="The media server's directory (`linli media-config --dir`): Linli takes "
        "the recordings from its recordings/ and keeps the replays in var/live-replays",
    )
    ffmpeg: str = Field(default="ffmpeg", description="The ffmpeg that remuxes recordings")
    services_ice_servers: list[dict[str, Any]] = Field(
        default_factory=list,
        description="ICE servers (STUN/TURN) the online session rooms' browsers use, as JSON "
        '(e.g. [{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "c"}]); '
        "empty: none, so no address is sent to a server on the internet and the parties "
        "connect directly (a LAN, localhost, or networks that reach each other)",
    )
    page_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a rendered public page may be served to anonymous visitors "
        "from the process's cache when no content was written meanwhile (a write answers the "
        "next request with a fresh page); 0: no cache",
    )

    @property
    def media_enabled(self) -> bool:
        """Whether a media server is configured: the rooms play its HLS."""
        return bool(self.media_hls_url)

    def media_callback_secret(self) -> str:
        """The secret the media server's callbacks carry in their URL (`?secret=`), derived
        from the secret key: `linli media-config` writes it into nginx's configuration."""
        import hashlib
        import hmac

        key = self.resolved_secret_key().encode()
        return hmac.new(key, b"linli.media-callbacks", hashlib.sha256).hexdigest()[:40]

    @property
    def serve_access_log(self) -> bool:
        """Whether `linli serve` writes uvicorn's access log: as set, else development only."""
        return self.access_log if self.access_log is not None else self.env != "production"

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production (empty in development)."""
        if self.env != "production":
            return []
        problems: list[str] = []
        if self.payment_provider == "sandbox":
            problems.append(
                "LINLI_PAYMENT_PROVIDER is the sandbox, which takes no money and whose "
                "notifications anyone holding its secret can forge"
            )
        if self.payment_sandbox_secret.get_secret_value() == DEMO_SANDBOX_SECRET:
            problems.append(
                "LINLI_PAYMENT_SANDBOX_SECRET is the default published in the source code"
            )
        if not self.secure_cookies:
            problems.append("LINLI_SECURE_COOKIES is off: session cookies would travel over HTTP")
        if not self.secret_key.get_secret_value():
            problems.append(
                "LINLI_SECRET_KEY is not set (a key generated under var/ differs per machine "
                "and is lost with it)"
            )
        return problems

    def check_production(self) -> None:
        """Raise `UnsafeProductionSettings` listing every problem, if there is any."""
        problems = self.production_problems()
        if problems:
            raise UnsafeProductionSettings(problems)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'linli.sqlite3').as_posix()}"

    @property
    def database_kind(self) -> str:
        return "postgresql" if self.resolved_database_url.startswith("postgresql") else "sqlite"

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept under var/ (never in the repo)."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured
        import secrets

        path = self.var_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
