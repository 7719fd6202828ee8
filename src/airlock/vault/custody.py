"""Key custody: the master key split into N shares of which any K recover it.

Shamir's secret sharing (Shamir, *How to share a secret*, CACM 1979) in the encoding of SLIP-0039, by its
reference implementation (``shamir-mnemonic``, maintained by Trezor): each share is a list of words with a
Reed-Solomon checksum (a mistyped word is caught, never silently turned into a wrong key), the number of
shares needed, and an identifier that ties the shares of one split together (shares of two splits do not
mix). Fewer than K shares reveal nothing about the key. Airlock writes no finite-field code of its own.

Only a key Airlock holds itself (a key file, ``AIRLOCK_MASTER_KEY``) can be split; a key in a KMS or an HSM
never leaves it, and its custody is the KMS's (its own replication and key-recovery procedures).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shamir_mnemonic import MnemonicError, Share, combine_mnemonics, generate_mnemonics

from airlock.errors import AirlockError

MIN_THRESHOLD = 2
"""Fewer would make every share the key itself."""
MAX_SHARES = 16
"""SLIP-0039 encodes a share's index in four bits."""


class CustodyError(AirlockError):
    """Shares that do not recover a key: too few, mistyped, or from different splits. Nothing was written."""

    kind = "key_shares"


@dataclass(frozen=True)
class ShareSet:
    """What a set of shares says about itself, without recovering anything."""

    identifier: int
    threshold: int
    indexes: tuple[int, ...]


def split_key(secret: bytes, *, threshold: int, shares: int) -> list[str]:
    """``secret`` as ``shares`` SLIP-0039 mnemonics of which any ``threshold`` recover it."""
    if not MIN_THRESHOLD <= threshold <= shares <= MAX_SHARES:
        raise CustodyError(
            f"Cannot split the key into {shares} shares with {threshold} needed to recover it.",
            f"Ask for {MIN_THRESHOLD} to {MAX_SHARES} shares, and at least {MIN_THRESHOLD} but no more than that "
            "number to recover the key.",
        )
    # One group holding every share: SLIP-0039's groups (shares of shares) are for custody schemes Airlock
    # does not need. No passphrase: the shares alone are the custody.
    (group,) = generate_mnemonics(1, [(threshold, shares)], secret)
    return list(group)


def describe_shares(mnemonics: Iterable[str]) -> ShareSet:
    """Check each share on its own (words and checksum) and that all come from one split."""
    parsed: list[Share] = []
    for number, mnemonic in enumerate(mnemonics, start=1):
        try:
            parsed.append(Share.from_mnemonic(" ".join(mnemonic.lower().split())))
        except MnemonicError as error:
            raise CustodyError(
                f"Share {number} is not a valid share ({_sentence(error)}).",
                "Check it word by word against the custodian's copy; nothing was written.",
            ) from error
    if not parsed:
        raise CustodyError("No shares were given.", "Give the shares, one per line; nothing was written.")
    identifiers = {share.identifier for share in parsed}
    if len(identifiers) > 1:
        raise CustodyError(
            "The shares come from different splits of a key (their first words differ), so they cannot be combined.",
            "Give shares of one split only; nothing was written.",
        )
    first = parsed[0]
    if any(share.member_threshold != first.member_threshold for share in parsed):
        raise CustodyError("The shares disagree on how many of them are needed.", "Check them; nothing was written.")
    indexes = tuple(sorted({share.index for share in parsed}))
    return ShareSet(identifier=first.identifier, threshold=first.member_threshold, indexes=indexes)


def recover_key(mnemonics: Iterable[str], passphrase: bytes = b"") -> bytes:
    """The secret that ``mnemonics`` (at least the threshold of one split, more are ignored) recover.

    ``passphrase`` is SLIP-0039's optional passphrase; Airlock's own splits use none.
    """
    given = [" ".join(mnemonic.lower().split()) for mnemonic in mnemonics]
    found = describe_shares(given)
    if len(found.indexes) < found.threshold:
        raise CustodyError(
            f"{found.threshold} different shares are needed to recover the key; {_shares(len(found.indexes))} given.",
            "Collect more shares from their custodians; nothing was written.",
        )
    # SLIP-0039 combines exactly the threshold: take that many distinct shares, in the order given.
    chosen: dict[int, str] = {}
    for mnemonic in given:
        chosen.setdefault(Share.from_mnemonic(mnemonic).index, mnemonic)
    try:
        return combine_mnemonics(list(chosen.values())[: found.threshold], passphrase)
    except MnemonicError as error:
        raise CustodyError(
            f"The shares do not combine into a key ({_sentence(error)}).", "Check them; nothing was written."
        ) from error


def _shares(count: int) -> str:
    return f"{count} was" if count == 1 else f"{count} were"


def _sentence(error: MnemonicError) -> str:
    return str(error).rstrip(".")
