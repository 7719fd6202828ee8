"""Key custody: the master key split into N shares, any K of which (and no fewer) recover it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.vault import FileKeyProvider
from airlock.vault.custody import CustodyError, recover_key, split_key
from airlock.vault.keys import new_key
from tests.support.cli import Cli
from tests.support.world import World

# Published SLIP-0039 test vectors (trezor/python-shamir-mnemonic, vectors.json; passphrase "TREZOR"): the
# encoding is the standard one, so another SLIP-0039 implementation recovers an Airlock key too.
SLIP39_VECTORS = [
    (
        [
            "duckling enlarge academic academic agency result length solution fridge kidney coal piece deal husband "
            "erode duke ajar critical decision keyboard"
        ],
        "bb54aac4b89dc868ba37d9cc21b2cece",
    ),
    (
        [
            "shadow pistol academic always adequate wildlife fancy gross oasis cylinder mustang wrist rescue view "
            "short owner flip making coding armed",
            "shadow pistol academic acid actress prayer class unknown daughter sweater depict flip twice unkind craft "
            "early superior advocate guest smoking",
        ],
        "b43ceb7e57a0ea8766221624d01b0864",
    ),
    (
        [
            "humidity disease academic always aluminum jewelry energy woman receiver strategy amuse duckling lying "
            "evidence network walnut tactics forget hairy rebound impulse brother survive clothes stadium mailman "
            "rival ocean reward venture always armed unwrap",
            "humidity disease academic agency actress jacket gross physics cylinder solution fake mortgage benefit "
            "public busy prepare sharp friar change work slow purchase ruler again tricycle involve viral wireless "
            "mixture anatomy desert cargo upgrade",
        ],
        "c938b319067687e990e05e0da0ecce1278f75ff58d9853f19dcaeed5de104aae",
    ),
]


@pytest.mark.parametrize(("shares", "secret"), SLIP39_VECTORS)
def test_the_published_slip39_vectors_recover_their_secrets(shares: list[str], secret: str) -> None:
    assert recover_key(shares, passphrase=b"TREZOR").hex() == secret


def test_any_k_of_n_shares_recover_the_key_and_fewer_do_not() -> None:
    key = new_key()
    shares = split_key(key, threshold=3, shares=5)
    assert len(set(shares)) == 5
    for chosen in itertools.combinations(shares, 3):
        assert recover_key(chosen) == key
    for too_few in itertools.combinations(shares, 2):
        with pytest.raises(CustodyError, match="3 different shares are needed"):
            recover_key(too_few)


def test_the_same_share_twice_counts_once() -> None:
    shares = split_key(new_key(), threshold=2, shares=3)
    with pytest.raises(CustodyError, match="2 different shares are needed to recover the key; 1 was given"):
        recover_key([shares[0], shares[0]])


def test_a_mistyped_share_is_caught_by_its_checksum() -> None:
    shares = split_key(new_key(), threshold=2, shares=3)
    words = shares[1].split()
    words[5] = "academic" if words[5] != "academic" else "acid"
    with pytest.raises(CustodyError, match="Share 2 is not a valid share"):
        recover_key([shares[0], " ".join(words)])


def test_shares_of_two_splits_do_not_mix() -> None:
    key = new_key()
    first, second = split_key(key, threshold=2, shares=3), split_key(key, threshold=2, shares=3)
    with pytest.raises(CustodyError, match="different splits"):
        recover_key([first[0], second[1]])


@pytest.mark.parametrize(("threshold", "shares"), [(4, 3), (1, 3), (2, 17)])
def test_a_split_that_makes_no_sense_is_refused(threshold: int, shares: int) -> None:
    with pytest.raises(CustodyError, match="Cannot split the key"):
        split_key(new_key(), threshold=threshold, shares=shares)


@pytest.fixture
def cli(settings: Settings, clock: ManualClock) -> Cli:
    return Cli(settings, clock)


def test_keys_split_writes_one_private_file_per_share_and_is_audited(
    airlock: Airlock, world: World, cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    outcome = cli("keys", "split", "--shares", "4", "--threshold", "2", "--out-dir", str(tmp_path / "s"), "--json")
    assert outcome.exit_code == 0, outcome.stderr
    files = [Path(name) for name in outcome.json()["files"]]
    assert len(files) == 4
    assert outcome.json()["shares"] == []
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)
    recovered = cli("keys", "recover", "--share-file", str(files[3]), "--share-file", str(files[0]), "--print")
    assert recovered.exit_code == 0, recovered.stderr
    assert recovered.stdout.strip() == (settings.resolved_master_key_file.read_text().strip())
    entries = airlock.oversight.entries(world.auditor)
    assert [entry.details["threshold"] for entry in entries if entry.action == "key.master.split"] == [2]
    recorded = json.dumps([entry.details for entry in entries])
    assert not any(path.read_text().splitlines()[-1] in recorded for path in files)


def test_keys_recover_from_standard_input_writes_a_new_key_file(
    airlock: Airlock, cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    shares = cli("keys", "split", "--shares", "3", "--threshold", "2", "--json").json()["shares"]
    target = tmp_path / "new-host" / "master.key"
    outcome = cli("keys", "recover", "--out", str(target), input=f"# custodian B\n{shares[1]}\n\n{shares[2]}\n")
    assert outcome.exit_code == 0, outcome.stderr
    assert FileKeyProvider(target).key_id == airlock.vault.provider.key_id
    assert target.stat().st_mode & 0o777 == 0o600


def test_too_few_shares_recover_nothing(airlock: Airlock, cli: Cli, tmp_path: Path) -> None:
    shares = cli("keys", "split", "--shares", "5", "--threshold", "3", "--json").json()["shares"]
    target = tmp_path / "master.key"
    outcome = cli("keys", "recover", "--out", str(target), input="\n".join(shares[:2]))
    assert outcome.exit_code == 1
    assert outcome.error_lines == [
        "Error: 3 different shares are needed to recover the key; 2 were given. Collect more shares from their "
        "custodians; nothing was written."
    ]
    assert not target.exists()


def test_a_recovered_key_never_replaces_a_key_file(airlock: Airlock, cli: Cli, settings: Settings) -> None:
    shares = cli("keys", "split", "--shares", "2", "--threshold", "2", "--json").json()["shares"]
    before = settings.resolved_master_key_file.read_bytes()
    outcome = cli("keys", "recover", input="\n".join(shares))
    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    assert "already exists" in outcome.stderr
    assert settings.resolved_master_key_file.read_bytes() == before


def test_a_threshold_above_the_share_count_is_refused(airlock: Airlock, cli: Cli, tmp_path: Path) -> None:
    outcome = cli("keys", "split", "--shares", "3", "--threshold", "4", "--out-dir", str(tmp_path / "s"))
    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    assert "Cannot split the key into 3 shares" in outcome.stderr
    assert not (tmp_path / "s").exists() or list((tmp_path / "s").iterdir()) == []


def test_only_operators_split_the_master_key(airlock: Airlock, world: World, cli: Cli) -> None:
    outcome = cli("keys", "split", "--shares", "3", "--threshold", "2", "--as", world.lead.email)
    assert outcome.exit_code == 1
    assert "may not split the master key" in outcome.stderr
    assert "share 1" not in outcome.stdout
