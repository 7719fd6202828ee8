"""Running a run's samples across a Ray cluster, with nothing readable in Ray's hands.

The shape is the local executor's, spread out: the driver (the process of ``airlock eval run``) starts one
*node agent* (a Ray actor) per ``bwrap`` resource unit on every node that advertises the resource, splits the
pending samples into shards, and hands each idle agent the next shard. An agent runs its shard with the existing
worker (:class:`airlock.evals.runner.LocalExecutor`, on its node) and yields every sample's outcome the moment it
ends (a Ray streaming generator), so the driver records it before the next one ends, as on one machine.

Why agents and shards rather than one Ray task per sample: a shard starts one worker process (Python, Inspect, the
model's client: a few seconds), which a task per sample would pay for every sample; and an agent holds, in its own
memory only, the private half of the key pair its messages are sealed with (:mod:`.sealing`), which a plain task
could only have been handed through Ray.

Ray places the agents (resources, node affinity), moves the messages, and tells the driver when a node dies. Which
samples run again after a loss is decided here and not left to Ray's task retries: a retried generator would run
its whole shard again and Ray would drop its first outputs by position, not by sample, so a sample could be
recorded twice and another never. Here the driver knows which samples of a lost shard it already recorded, and
hands only the others to an agent still alive. A node is refused before it runs anything when its Airlock build
(version and the digest of its code) differs from the driver's, or when the instances it generates from the run's
seeds differ from the driver's (their content hashes): a run's verdicts must all come from the same challenges.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import queue
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import ray
from pydantic import ValidationError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import airlock
from airlock.errors import AirlockError
from airlock.evals.executors.sealing import Channel, KeyPair, SealError
from airlock.evals.runner import (
    LocalExecutor,
    LogFile,
    ModelAccess,
    RunnerError,
    RunSettings,
    SampleKey,
    SampleOutcome,
    SamplesRequest,
    content_digest,
    planned_samples,
)
from airlock.evals.suites import RunPlan

BWRAP_RESOURCE = "bwrap"
"""The custom resource a node advertises when it can run sandboxed samples; its amount is how many shards at once."""
SHARDS_PER_AGENT = 2
"""Pending samples are cut into this many shards per agent when there are several agents: enough that a fast node
takes more of the work than a slow one, few enough that a shard's worker start (a few seconds) stays small beside
its samples. One agent alone gets one shard: there is nobody to balance with, and a lost shard's recorded samples
are never run again whatever its size."""
MIN_SHARD_SAMPLES = 3
"""Nor smaller than this: a shard of one sample would pay a worker start for each."""
MAX_SHARD_SAMPLES = 64
"""A shard's logs come back as one message at its end and wait in Ray's object store until the driver reads them:
the cap keeps that message tens of megabytes for agentic samples, at a worker start per 64 samples."""
MAX_LOSSES_PER_SAMPLE = 3
"""A sample whose node died under it this many times fails the run instead of killing a fourth node."""
AGENT_START_SECONDS = 120
CONNECT_SECONDS = 5
NAMESPACE = "airlock"


class ClusterUnavailableError(RunnerError):
    """The cluster cannot run the samples (not reached, not joined, no node admitted): refused before anything ran."""

    kind = "cluster_unavailable"


class ShardRequest(SamplesRequest):
    """What the driver sends an agent, sealed: everything the worker needs, and what the node must match."""

    build: str
    suite_digest: str


@cache
def build_identity() -> str:
    """This installation's Airlock: its version, Inspect's, and a digest of every file of the package (so two
    nodes with the same version number but different code are told apart)."""
    root = Path(airlock.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(f"{path.relative_to(root)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    inspect = importlib.metadata.version("inspect_ai")
    return f"airlock {airlock.__version__} (code {digest.hexdigest()[:12]}), inspect_ai {inspect}"


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` as its parts; ``("", 0)`` for anything else."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "", 0
    return host, int(port)


@contextmanager
def _stderr_withheld() -> Iterator[None]:
    """Descriptor 2 pointed at /dev/null for a while. Joining a cluster, Ray's C++ core writes every failed attempt to
    reach the head there directly (twenty lines for a missing token), whatever the Python logging level; the cause
    reaches the evaluator in Airlock's one sentence instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _token_refused(error: BaseException) -> bool:
    """Whether joining failed on the cluster's token. Ray carries the cause as an exception or, from its GCS client,
    only as the text of one (``InvalidAuthToken``)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ray.exceptions.AuthenticationError) or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _first_line(error: BaseException) -> str:
    if isinstance(error, AirlockError):
        return error.diagnostics().splitlines()[0]
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class NodeAgent:
    """Runs shards on one node. Created by :class:`RayExecutor` (as a Ray actor), never by hand."""

    def __init__(self) -> None:
        self._keys = KeyPair.generate()

    def describe(self) -> dict[str, Any]:
        """Who this agent is: its node, host, build and public key (nothing secret)."""
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "build": build_identity(),
            "public": self._keys.public,
        }

    def run_shard(self, driver_public: bytes, shard: str, sealed_request: bytes) -> Iterator[bytes]:
        """Yield one sealed message per finished sample, then the shard's logs; or one refusal or error."""
        channel = Channel.between(
            self._keys, driver_public, driver_public=driver_public, agent_public=self._keys.public
        )

        def sealed(message: dict[str, Any]) -> bytes:
            return channel.seal(f"outcome {shard}", json.dumps(message).encode())

        try:
            request = ShardRequest.model_validate_json(channel.open(f"request {shard}", sealed_request))
        except (SealError, ValidationError) as error:
            yield sealed({"refused": f"its request did not open ({type(error).__name__})"})
            return
        try:
            refusal = self._refusal(request)
        except Exception as error:  # sealed, like every answer: an exception would reach Ray's task table in clear
            refusal = {"error": _first_line(error)}
        if refusal is not None:
            yield sealed(refusal)
            return
        messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        runner = threading.Thread(target=_run_shard, args=(request, messages), name="airlock-shard", daemon=True)
        runner.start()
        while (message := messages.get()) is not None:
            yield sealed(message)
        runner.join()

    def _refusal(self, request: ShardRequest) -> dict[str, Any] | None:
        """Why this node must not run the request: another build, or other instances from the same seeds."""
        own = build_identity()
        if request.build != own:
            return {"refused": f"it runs {own}, and the run was started with {request.build}"}
        try:
            digest = content_digest(planned_samples(request.plan))
        except AirlockError as error:
            return {"error": error.diagnostics()}
        if digest != request.suite_digest:
            return {"refused": "the instances it generates from the run's seeds differ from the driver's"}
        return None


def _run_shard(request: ShardRequest, messages: queue.Queue[dict[str, Any] | None]) -> None:
    try:
        logs = LocalExecutor().run(
            request.plan,
            request.model_access,
            request.pending,
            request.run_settings,
            lambda outcome: messages.put({"sample": outcome.model_dump()}),
        )
        messages.put({"logs": [{"name": log.name, "content": base64.b64encode(log.content).decode()} for log in logs]})
    except Exception as error:  # the driver turns it into one sentence; nothing of it reaches Ray in plaintext
        messages.put({"error": _first_line(error)})
    finally:
        messages.put(None)


@dataclass
class _Agent:
    handle: Any
    node: str
    host: str
    channel: Channel
    busy: bool = False
    lost: bool = False

    @property
    def name(self) -> str:
        return f"{self.host} (node {self.node[:8]})"


@dataclass
class _Shard:
    id: str
    keys: list[SampleKey]
    agent: _Agent
    handed_back: bool = False
    """Its unfinished samples are already queued again (the agent refused it): a loss that follows changes nothing."""


@dataclass(frozen=True)
class _Event:
    kind: str
    """``message`` (sealed bytes in ``payload``); then exactly one of ``ended``, ``lost`` (the node or its agent
    died: Ray's error in ``payload``) or ``failed`` (the agent raised, or the driver could not read the stream)."""
    shard: _Shard
    payload: Any = None


class RayExecutor:
    """Runs a run's samples on the nodes of the Ray cluster at ``address`` (``HOST:PORT`` of its head).

    ``notice`` receives the sentences an evaluator should read while the run goes on: a node refused, a node
    lost and how many of its samples run again.
    """

    def __init__(self, address: str, *, notice: Callable[[str], None] | None = None) -> None:
        self.address = address
        self._notice = notice or (lambda line: None)
        self._keys = KeyPair.generate()
        self._agents: list[_Agent] = []
        self._connected_here = False
        self.notices: list[str] = []

    def _say(self, line: str) -> None:
        self.notices.append(line)
        self._notice(line)

    # -- before the run -------------------------------------------------------------------------------------------

    def ready(self) -> None:
        if not self._agents:
            self._connect()
            self._admit_agents()

    def _connect(self) -> None:
        host, port = split_address(self.address)
        if not host:
            raise ClusterUnavailableError(
                f"{self.address!r} is not the address of a Ray cluster's head.", "Give it as HOST:PORT (the GCS port)."
            )
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
        except OSError as error:
            raise ClusterUnavailableError(
                f"Nothing answers at {self.address} ({error.strerror or error}).",
                "Start the cluster's head there (docs/cluster.md) or give the address it printed.",
            ) from error
        if ray.is_initialized():
            return
        # A driver attaches to a node of the cluster on its own host; on loopback (one machine), to the head's.
        node_ip = host if host.startswith("127.") else None
        try:
            with _stderr_withheld():
                ray.init(
                    address=self.address,
                    namespace=NAMESPACE,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    _node_ip_address=node_ip,
                )
        except Exception as error:  # Ray raises ConnectionError, RuntimeError or ValueError, depending on the cause
            if _token_refused(error):
                raise ClusterUnavailableError(
                    f"The Ray cluster at {self.address} refused this process's token (none, or not the cluster's).",
                    "Set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to a copy of the cluster's token file "
                    "(docs/cluster.md, step 2).",
                ) from error
            raise ClusterUnavailableError(
                f"Could not join the Ray cluster at {self.address} ({_first_line(error)}).",
                "Run this on a node of the cluster (docs/cluster.md).",
            ) from error
        self._connected_here = True
        self._route_ray_messages()

    def _route_ray_messages(self) -> None:
        """Ray's driver prints the cluster's error messages (a node marked dead) on standard output, which is the
        command's own (``--json``): they become notices instead, on standard error. (A private hook of Ray's;
        where it is missing, Ray prints as it does.)"""
        import ray._private.worker as ray_worker

        if not callable(getattr(ray_worker, "print_to_stdstream", None)):
            return

        def to_notices(data: dict[str, Any], ignore_prefix: bool = False) -> None:
            for line in data.get("lines", []):
                self._say(f"Ray: {str(line).strip()}")

        ray_worker.print_to_stdstream = to_notices

    def _admit_agents(self) -> None:
        every_node: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        nodes = [node for node in every_node if node["Alive"] and node["Resources"].get(BWRAP_RESOURCE, 0) >= 1]
        if not nodes:
            raise ClusterUnavailableError(
                f"No node of the Ray cluster at {self.address} offers the {BWRAP_RESOURCE} resource.",
                "Start worker nodes with `ray start --address ... --resources '{\"bwrap\": 1}'` (docs/cluster.md).",
            )
        agent_class = ray.remote(NodeAgent)
        handles: list[Any] = [
            agent_class.options(
                num_cpus=0,
                resources={BWRAP_RESOURCE: 1},
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                max_restarts=0,
                max_task_retries=0,
            ).remote()
            for node in nodes
            for _ in range(int(node["Resources"][BWRAP_RESOURCE]))
        ]
        own = build_identity()
        refusals = []
        for handle, description in zip(handles, self._describe(handles), strict=True):
            if isinstance(description, str):
                refusals.append(description)
            elif description["build"] != own:
                refusals.append(
                    f"Node {description['host']} (node {description['node'][:8]}) is refused: it runs "
                    f"{description['build']}, this run {own}; install the same Airlock there."
                )
            else:
                channel = Channel.between(
                    self._keys,
                    description["public"],
                    driver_public=self._keys.public,
                    agent_public=description["public"],
                )
                self._agents.append(_Agent(handle, description["node"], description["host"], channel))
                continue
            ray.kill(handle)
        for refusal in dict.fromkeys(refusals):
            self._say(refusal)
        if not self._agents:
            raise ClusterUnavailableError(f"No node of the Ray cluster can run this run: {refusals[0]}")

    @staticmethod
    def _describe(handles: list[Any]) -> list[dict[str, Any] | str]:
        answers = {handle.describe.remote(): index for index, handle in enumerate(handles)}
        ready, _ = ray.wait(list(answers), num_returns=len(answers), timeout=AGENT_START_SECONDS)
        late = (
            f"A node did not start Airlock's agent in {AGENT_START_SECONDS} s (another run may hold its bwrap slots); "
            "it is left out."
        )
        described: list[dict[str, Any] | str] = [late] * len(handles)
        for reference in ready:
            try:
                described[answers[reference]] = ray.get(reference)
            except ray.exceptions.RayError as error:
                described[answers[reference]] = f"A node could not start Airlock's agent ({_first_line(error)})."
        return described

    # -- the run --------------------------------------------------------------------------------------------------

    def run(
        self,
        plan: RunPlan,
        model: ModelAccess,
        pending: Sequence[SampleKey],
        settings: RunSettings,
        on_sample: Callable[[SampleOutcome], None],
    ) -> list[LogFile]:
        try:
            if not pending:
                return []
            self.ready()
            request = ShardRequest.of(
                plan,
                model,
                pending,
                settings,
                build=build_identity(),
                suite_digest=content_digest(planned_samples(plan)),
            )
            return self._dispatch(request, list(pending), on_sample)
        finally:
            self.close()

    def _dispatch(
        self, request: ShardRequest, pending: list[SampleKey], on_sample: Callable[[SampleOutcome], None]
    ) -> list[LogFile]:
        wanted = set(pending)
        shards = 1 if len(self._agents) == 1 else len(self._agents) * SHARDS_PER_AGENT
        size = min(MAX_SHARD_SAMPLES, max(MIN_SHARD_SAMPLES, -(-len(pending) // shards)))
        waiting: deque[list[SampleKey]] = deque(pending[start : start + size] for start in range(0, len(pending), size))
        recorded: set[SampleKey] = set()
        losses: dict[SampleKey, int] = {}
        in_flight: dict[str, _Shard] = {}
        events: queue.Queue[_Event] = queue.Queue()
        logs: list[LogFile] = []
        failure: str | None = None
        shards_started = 0
        while True:
            idle = [agent for agent in self._agents if not agent.busy and not agent.lost]
            while failure is None and waiting and idle:
                keys = [key for key in waiting.popleft() if key not in recorded]
                if not keys:
                    continue
                shards_started += 1
                shard = _Shard(f"{shards_started}", keys, idle.pop(0))
                shard.agent.busy = True
                in_flight[shard.id] = shard
                sealed = shard.agent.channel.seal(
                    f"request {shard.id}",
                    request.model_copy(update={"pending": keys}).model_dump_json().encode(),
                )
                threading.Thread(
                    target=self._stream, args=(shard, sealed, events), name=f"airlock-shard-{shard.id}", daemon=True
                ).start()
            if not in_flight:
                break
            event = events.get()
            shard = event.shard
            if event.kind == "message":
                outcome_or_problem = self._read(shard, event.payload, logs)
                if isinstance(outcome_or_problem, SampleOutcome):
                    key = outcome_or_problem.key
                    if key in wanted and key in shard.keys and key not in recorded:
                        on_sample(outcome_or_problem)
                        recorded.add(key)
                elif outcome_or_problem is not None:
                    kind, line = outcome_or_problem
                    if kind == "refused":
                        shard.agent.lost = shard.handed_back = True
                        self._say(f"Node {shard.agent.name} is refused: {line}; its samples go to the other nodes.")
                        waiting.appendleft([key for key in shard.keys if key not in recorded])
                    else:
                        failure = failure or line
                continue
            del in_flight[shard.id]
            shard.agent.busy = False
            left = [key for key in shard.keys if key not in recorded]
            if event.kind == "failed":
                shard.agent.lost = True
                failure = failure or f"the agent on node {shard.agent.name} failed ({event.payload})"
            elif event.kind == "ended" and left and not shard.handed_back and failure is None:
                failure = f"node {shard.agent.name} ended its shard without {len(left)} of its samples"
            elif event.kind == "lost" and not shard.handed_back:
                shard.agent.lost = True
                # Ray may have lost touch with an agent that still runs: stop it, so that it makes no more calls.
                with contextlib.suppress(Exception):
                    ray.kill(shard.agent.handle)
                self._say(
                    f"Node {shard.agent.name} was lost ({type(event.payload).__name__}); "
                    f"its {len(left)} unfinished samples run again on the others."
                )
                for key in left:
                    losses[key] = losses.get(key, 0) + 1
                if any(losses[key] >= MAX_LOSSES_PER_SAMPLE for key in left):
                    failure = failure or (
                        f"a sample's node died under it {MAX_LOSSES_PER_SAMPLE} times, and a sample that kills nodes "
                        "is not run again"
                    )
                elif left:
                    waiting.appendleft(left)
            if not any(not agent.lost for agent in self._agents) and (waiting or in_flight):
                failure = failure or "every node of the cluster that could run samples was lost or refused"
                break
        if failure is not None:
            raise RunnerError(
                f"The run stopped on the cluster: {failure}.",
                "Fix what it names and run the same command again: finished samples are kept.",
            )
        if recorded != wanted:
            raise RunnerError(
                f"{len(wanted - recorded)} samples came back from no node.",
                "Run the same command again: finished samples are kept and only the rest is run.",
            )
        return logs

    def _stream(self, shard: _Shard, sealed: bytes, events: queue.Queue[_Event]) -> None:
        """Pass the shard's messages on, then exactly one final event, whatever happens (the dispatcher waits)."""
        try:
            stream = shard.agent.handle.run_shard.options(num_returns="streaming").remote(
                self._keys.public, shard.id, sealed
            )
            for reference in stream:
                events.put(_Event("message", shard, ray.get(reference)))
        except ray.exceptions.RayTaskError as error:  # raised inside the agent: a defect, not a lost node
            events.put(_Event("failed", shard, type(error.cause).__name__))
        except ray.exceptions.RayError as error:  # the actor or its node died, or its results were lost with it
            events.put(_Event("lost", shard, error))
        except Exception as error:
            events.put(_Event("failed", shard, type(error).__name__))
        else:
            events.put(_Event("ended", shard))

    @staticmethod
    def _read(shard: _Shard, sealed: bytes, logs: list[LogFile]) -> SampleOutcome | tuple[str, str] | None:
        """A message of ``shard``'s agent: an outcome; ``("refused" | "error", why)``; or None (logs, kept)."""
        # A malformed message is named by the kind of fault only: its values may be pieces of a transcript.
        try:
            message = json.loads(shard.agent.channel.open(f"outcome {shard.id}", sealed))
            if "sample" in message:
                return SampleOutcome.model_validate(message["sample"])
            if "logs" in message:
                logs.extend(
                    LogFile(f"shard-{shard.id}/{entry['name']}", base64.b64decode(entry["content"], validate=True))
                    for entry in message["logs"]
                )
                return None
            if "refused" in message:
                return "refused", str(message["refused"])
            return "error", f"on node {shard.agent.name}: {message['error']}"
        except (SealError, ValueError, KeyError, TypeError) as error:
            return "error", f"a message from node {shard.agent.name} could not be read ({type(error).__name__})"

    def close(self) -> None:
        """Stop the agents (their workers die with them) and leave the cluster if this executor joined it."""
        for agent in self._agents:
            # An agent on a node already gone needs no stopping.
            with contextlib.suppress(Exception):
                ray.kill(agent.handle)
        self._agents = []
        if self._connected_here:
            ray.shutdown()
            self._connected_here = False
