"""The cluster executor's sealed channel, without a cluster: a driver and a node agent derive the same key, a
message opens only for the purpose and shard it was sealed for, anything tampered with, cut short or sealed by
someone else does not open, and nothing of the plaintext shows in what Ray carries. A node agent (the plain class,
not a Ray actor) answers a request it cannot open, or one from another build or with other instances, with one
sealed refusal and runs nothing."""

from __future__ import annotations

import json
import queue
from pathlib import Path
from typing import Any

import pytest

from airlock.evals.executors import ray_cluster
from airlock.evals.executors.ray_cluster import NodeAgent, ShardRequest, build_identity
from airlock.evals.executors.sealing import NONCE_BYTES, Channel, KeyPair, SealError
from airlock.evals.runner import RunSettings, content_digest, planned_samples
from airlock.evals.suites import RunPlan, load_suite

CREDENTIAL = b"sk-sealed-credential-3e9b71c04a2f"
QUICK = Path(__file__).parent / "support" / "suites" / "quick.yaml"


def channels(driver: KeyPair, agent: KeyPair) -> tuple[Channel, Channel]:
    """The driver's end and the agent's end of their channel, each derived from its own private key."""
    names = {"driver_public": driver.public, "agent_public": agent.public}
    return Channel.between(driver, agent.public, **names), Channel.between(agent, driver.public, **names)


def test_both_ends_derive_the_same_channel_in_both_directions() -> None:
    driver_end, agent_end = channels(KeyPair.generate(), KeyPair.generate())

    assert agent_end.open("request 1", driver_end.seal("request 1", CREDENTIAL)) == CREDENTIAL
    assert driver_end.open("outcome 1", agent_end.seal("outcome 1", b"a transcript")) == b"a transcript"


def test_the_channel_is_bound_to_which_key_is_the_drivers() -> None:
    driver, agent = KeyPair.generate(), KeyPair.generate()
    driver_end, _ = channels(driver, agent)
    swapped = Channel.between(agent, driver.public, driver_public=agent.public, agent_public=driver.public)

    with pytest.raises(SealError):
        swapped.open("request 1", driver_end.seal("request 1", CREDENTIAL))


@pytest.mark.parametrize("label", ["outcome 1", "request 2", "request 11", "request 1 ", ""])
def test_a_message_opens_only_under_its_own_label(label: str) -> None:
    driver_end, agent_end = channels(KeyPair.generate(), KeyPair.generate())
    sealed = driver_end.seal("request 1", CREDENTIAL)

    with pytest.raises(SealError, match="does not open"):
        agent_end.open(label, sealed)
    assert agent_end.open("request 1", sealed) == CREDENTIAL


@pytest.mark.parametrize("position", [0, NONCE_BYTES - 1, NONCE_BYTES, NONCE_BYTES + len(CREDENTIAL) // 2, -1])
def test_a_flipped_bit_anywhere_does_not_open(position: int) -> None:
    driver_end, agent_end = channels(KeyPair.generate(), KeyPair.generate())
    sealed = bytearray(driver_end.seal("request 1", CREDENTIAL))
    sealed[position] ^= 0x01

    with pytest.raises(SealError):
        agent_end.open("request 1", bytes(sealed))


@pytest.mark.parametrize("keep", [0, 1, NONCE_BYTES, NONCE_BYTES + 15, NONCE_BYTES + 16, -1])
def test_a_truncated_message_does_not_open(keep: int) -> None:
    driver_end, agent_end = channels(KeyPair.generate(), KeyPair.generate())
    sealed = driver_end.seal("request 1", CREDENTIAL)

    with pytest.raises(SealError):
        agent_end.open("request 1", sealed[:keep])


def test_a_message_sealed_by_a_third_key_pair_does_not_open() -> None:
    driver, agent, intruder = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    driver_end, agent_end = channels(driver, agent)
    # The intruder knows both public keys (Ray carries them) and poses as the driver, then as the agent.
    as_driver = Channel.between(intruder, agent.public, driver_public=driver.public, agent_public=agent.public)
    as_agent = Channel.between(intruder, driver.public, driver_public=driver.public, agent_public=agent.public)

    with pytest.raises(SealError):
        agent_end.open("request 1", as_driver.seal("request 1", CREDENTIAL))
    with pytest.raises(SealError):
        driver_end.open("outcome 1", as_agent.seal("outcome 1", b'{"sample": {}}'))


def test_a_public_key_of_the_wrong_size_is_refused() -> None:
    driver = KeyPair.generate()

    with pytest.raises(SealError, match="not an X25519 key"):
        Channel.between(driver, driver.public[:31], driver_public=driver.public, agent_public=driver.public[:31])


def test_the_sealed_message_holds_nothing_of_the_plaintext_and_never_repeats() -> None:
    driver_end, _ = channels(KeyPair.generate(), KeyPair.generate())
    plaintext = b'{"api_key": "' + CREDENTIAL + b'"}'
    first, second = driver_end.seal("request 1", plaintext), driver_end.seal("request 1", plaintext)

    assert CREDENTIAL not in first
    assert CREDENTIAL[:8] not in first
    assert len(first) == NONCE_BYTES + len(plaintext) + 16
    assert first != second  # a fresh nonce each time: equal requests are not told apart by their bytes


# -- the node agent ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan_and_digest(private_cache: Path) -> tuple[RunPlan, str]:
    """A plan of the quick suite and the digest of its instances (generated once, into the session's cache)."""
    plan = RunPlan.fresh(load_suite(str(QUICK)))
    return plan, content_digest(planned_samples(plan))


@pytest.fixture
def shards_run(monkeypatch: pytest.MonkeyPatch) -> list[ShardRequest]:
    """The requests the agent hands to its worker. Running one for real needs a model and takes seconds; what is
    tested here is whether the agent starts it at all, so the runner only records its request and ends the shard
    as a worker with nothing to report would (with no logs)."""
    started: list[ShardRequest] = []

    def record(request: ShardRequest, messages: queue.Queue[dict[str, Any] | None]) -> None:
        started.append(request)
        messages.put({"logs": []})
        messages.put(None)

    monkeypatch.setattr(ray_cluster, "_run_shard", record)
    return started


def shard_request(plan: RunPlan, digest: str, *, build: str | None = None) -> bytes:
    request = ShardRequest(
        plan=plan,
        model="openai-api/fakelab/frontier-mini",
        base_url="http://127.0.0.1:9/v1",
        api_key=CREDENTIAL.decode(),
        model_args={},
        pending=[(plan.tasks[0].task.key, "sample", 1)],
        settings=RunSettings().__dict__,
        build=build_identity() if build is None else build,
        suite_digest=digest,
    )
    return request.model_dump_json().encode()


def agent_end_of(driver: KeyPair, agent: NodeAgent) -> Channel:
    """The driver's end of its channel with ``agent``. The agent's public key is read from the object rather than
    through describe(), which asks Ray's runtime context and needs a cluster."""
    public = agent._keys.public
    return Channel.between(driver, public, driver_public=driver.public, agent_public=public)


def answers(agent: NodeAgent, driver: KeyPair, shard: str, sealed: bytes) -> list[bytes]:
    return list(agent.run_shard(driver.public, shard, sealed))


def single_message(channel: Channel, shard: str, messages: list[bytes]) -> dict[str, Any]:
    assert len(messages) == 1, f"{len(messages)} messages"
    assert CREDENTIAL not in messages[0]
    with pytest.raises(SealError):
        channel.open(f"request {shard}", messages[0])  # an answer cannot pass for a request
    message: dict[str, Any] = json.loads(channel.open(f"outcome {shard}", messages[0]))
    return message


def test_an_agent_runs_a_request_sealed_for_it_from_its_own_build(
    plan_and_digest: tuple[RunPlan, str], shards_run: list[ShardRequest]
) -> None:
    """The control for the refusals below: the same request, sealed for this agent and shard, is run."""
    plan, digest = plan_and_digest
    agent, driver = NodeAgent(), KeyPair.generate()
    channel = agent_end_of(driver, agent)

    message = single_message(
        channel, "1", answers(agent, driver, "1", channel.seal("request 1", shard_request(plan, digest)))
    )

    assert message == {"logs": []}
    assert [request.api_key for request in shards_run] == [CREDENTIAL.decode()]


def test_a_request_sealed_for_another_agent_is_refused_and_nothing_runs(
    plan_and_digest: tuple[RunPlan, str], shards_run: list[ShardRequest]
) -> None:
    plan, digest = plan_and_digest
    agent, other, driver = NodeAgent(), NodeAgent(), KeyPair.generate()

    sealed_for_other = agent_end_of(driver, other).seal("request 1", shard_request(plan, digest))
    message = single_message(agent_end_of(driver, agent), "1", answers(agent, driver, "1", sealed_for_other))

    assert set(message) == {"refused"}
    assert "did not open" in message["refused"]
    assert shards_run == []


def test_a_request_sealed_for_another_shard_is_refused_and_nothing_runs(
    plan_and_digest: tuple[RunPlan, str], shards_run: list[ShardRequest]
) -> None:
    plan, digest = plan_and_digest
    agent, driver = NodeAgent(), KeyPair.generate()
    channel = agent_end_of(driver, agent)

    replayed = answers(agent, driver, "1", channel.seal("request 2", shard_request(plan, digest)))
    message = single_message(channel, "1", replayed)

    assert set(message) == {"refused"}
    assert "did not open" in message["refused"]
    assert shards_run == []


def test_a_request_from_another_build_is_refused_and_nothing_runs(
    plan_and_digest: tuple[RunPlan, str], shards_run: list[ShardRequest]
) -> None:
    plan, digest = plan_and_digest
    agent, driver = NodeAgent(), KeyPair.generate()
    channel = agent_end_of(driver, agent)
    older = "airlock 0.0.9 (code 000000000000), inspect_ai 0.3.0"

    message = single_message(
        channel, "3", answers(agent, driver, "3", channel.seal("request 3", shard_request(plan, digest, build=older)))
    )

    assert set(message) == {"refused"}
    assert f"the run was started with {older}" in message["refused"]
    assert build_identity() in message["refused"]
    assert shards_run == []


def test_a_request_for_other_instances_is_refused_and_nothing_runs(
    plan_and_digest: tuple[RunPlan, str], shards_run: list[ShardRequest]
) -> None:
    plan, _ = plan_and_digest
    agent, driver = NodeAgent(), KeyPair.generate()
    channel = agent_end_of(driver, agent)

    sealed = channel.seal("request 1", shard_request(plan, "0" * 64))
    message = single_message(channel, "1", answers(agent, driver, "1", sealed))

    assert message == {"refused": "the instances it generates from the run's seeds differ from the driver's"}
    assert shards_run == []
