"""Sealed messages between a cluster run's driver and its node agents: nothing readable in Ray's hands.

Ray carries a run's requests (which hold the model endpoint's credential) and its outcomes (verdicts and
transcripts) through its object store, which spills to disk, and through gRPC between hosts, and it logs what its
tasks print. None of that may hold plaintext. So each side makes an X25519 key pair that never leaves its
process: the driver one per run, each node agent one when it starts. Their public keys are exchanged through Ray
(public by nature), and both sides derive the same 256-bit key from the Diffie-Hellman secret with HKDF-SHA256,
bound to both public keys. Every message is then ChaCha20-Poly1305 under that key, with a random nonce and, as
associated data, a label naming what the message is and which shard it belongs to: a request cannot be replayed
as another shard's, nor an outcome passed off as a request.

What this protects against: anyone who reads Ray's session directory, spill files, shared memory or logs, or who
listens to the traffic between nodes, learns nothing but sizes. What it does not: the public keys are not
authenticated, so an active attacker on Ray's plaintext gRPC could answer with a key of its own and be sent a
request; and whoever may submit work to the cluster (Ray's token, which travels in that same gRPC) may run code on
its nodes and read an agent's memory. Hence on any network not wholly the lab's, Ray's TLS (``RAY_USE_TLS``) is
required, and the token is a credential of the same weight as the endpoint's (docs/cluster.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
PUBLIC_KEY_BYTES = 32
CONTEXT = b"airlock cluster channel v1"


class SealError(Exception):
    """A message that does not open: tampered with, truncated, or sealed for another channel or purpose."""


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair held only in this process's memory."""

    private: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(X25519PrivateKey.generate())

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Channel:
    """The sealed channel between one run's driver and one node agent."""

    _aead: ChaCha20Poly1305 = field(repr=False)

    @classmethod
    def between(cls, own: KeyPair, peer_public: bytes, *, driver_public: bytes, agent_public: bytes) -> Channel:
        """The channel ``own`` shares with the holder of ``peer_public``; both ends name the two public keys
        in the same order (the driver's first), so both derive the same key."""
        if len(peer_public) != PUBLIC_KEY_BYTES:
            raise SealError("the peer's public key is not an X25519 key")
        shared = own.private.exchange(X25519PublicKey.from_public_bytes(peer_public))
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT + driver_public + agent_public).derive(
            shared
        )
        return cls(ChaCha20Poly1305(key))

    def seal(self, label: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, label.encode())

    def open(self, label: str, sealed: bytes) -> bytes:
        if len(sealed) < NONCE_BYTES + 16:
            raise SealError(f"a sealed {label} is too short to be one")
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], label.encode())
        except InvalidTag as error:
            raise SealError(f"a sealed {label} does not open: tampered with, or sealed for another run") from error
