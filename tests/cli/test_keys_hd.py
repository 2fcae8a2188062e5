"""BIP-39/BIP-32 derivation and the public dev accounts (must match anvil/hardhat)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from node.crypto import SECP256K1_N, to_checksum_address
from node.keys.hd import (
    DEV_MNEMONIC,
    HARDENED_OFFSET,
    DevAccount,
    ExtendedKey,
    HDError,
    derive_child,
    derive_path,
    derive_private_key,
    dev_account,
    dev_accounts,
    eth_path,
    master_key,
    mnemonic_to_seed,
    parse_path,
)

ANVIL_ADDRESSES = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
]
DEV0_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.mark.parametrize("index, expected", list(enumerate(ANVIL_ADDRESSES)))
def test_dev_account_addresses_match_anvil(index: int, expected: str) -> None:
    assert to_checksum_address(dev_account(index).address) == expected


def test_dev0_private_key_matches_anvil() -> None:
    assert dev_account(0).secret.hex() == DEV0_KEY


def test_dev_accounts_list() -> None:
    accounts = dev_accounts()
    assert [a.name for a in accounts] == [f"dev{i}" for i in range(10)]
    assert [a.checksum_address for a in accounts] == ANVIL_ADDRESSES
    assert all(isinstance(a, DevAccount) and a.private_key.address == a.address for a in accounts)
    assert len(dev_accounts(3)) == 3 and dev_accounts(0) == []


def test_dev_account_is_frozen_and_repr_hides_secret() -> None:
    account = dev_accounts(1)[0]
    with pytest.raises(AttributeError):
        account.name = "x"  # type: ignore[misc]
    assert DEV0_KEY not in repr(account)


def test_derivation_is_cached() -> None:
    from node.keys import hd

    dev_account(4)
    before = hd._dev_secret.cache_info()
    dev_account(4)
    after = hd._dev_secret.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses


def test_bip39_seed_vector() -> None:
    # Trezor BIP-39 vector: all-zero entropy, passphrase "TREZOR".
    mnemonic = " ".join(["abandon"] * 11 + ["about"])
    expected = (
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
        "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
    )
    assert mnemonic_to_seed(mnemonic, "TREZOR").hex() == expected
    assert mnemonic_to_seed("  " + mnemonic.replace(" ", "   ") + "\n", "TREZOR").hex() == expected


def test_bip32_vector_1() -> None:
    # BIP-32 test vector 1, chain m/0H/1/2H/2/1000000000.
    seed = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    master = master_key(seed)
    assert master.secret.hex() == "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35"
    assert master.chain_code.hex() == "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508"
    leaf = derive_path(seed, "m/0H/1/2H/2/1000000000")
    assert leaf.secret.hex() == "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8"
    assert leaf.chain_code.hex() == "c783e67b921d2beb8f6b389cc646d7263b4145701dadd2161548a8b078e65e9e"


def test_bip32_vector_2_normal_children() -> None:
    seed = bytes.fromhex(
        "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
        "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542"
    )
    assert derive_path(seed, "m/0").secret.hex() == ("abe74a98f6c7eabee0428f53798f0ab8aa1bd37873999041703c742f15ac7e1e")


def test_derive_private_key_matches_dev_account() -> None:
    assert derive_private_key(DEV_MNEMONIC, "m/44'/60'/0'/0/1").address == dev_account(1).address
    assert derive_private_key(DEV_MNEMONIC, "m/44h/60H/0'/0/1").address == dev_account(1).address
    other = derive_private_key(DEV_MNEMONIC, "m/44'/60'/0'/0/0", passphrase="x")
    assert other.address != dev_account(0).address


def test_parse_path() -> None:
    assert parse_path("m") == ()
    assert parse_path("m/44'/60'/0'/0/7") == (
        44 + HARDENED_OFFSET,
        60 + HARDENED_OFFSET,
        HARDENED_OFFSET,
        0,
        7,
    )
    assert eth_path(3) == "m/44'/60'/0'/0/3"


@pytest.mark.parametrize(
    "path",
    ["", "44'/60'", "m/", "m/x", "m/-1", "m/1''", "m/2147483648", "m/ 1", "m/١", "n/0"],
)
def test_parse_path_rejects_garbage(path: str) -> None:
    with pytest.raises(HDError):
        parse_path(path)


def test_bad_inputs_raise_hd_error() -> None:
    with pytest.raises(HDError, match="empty"):
        mnemonic_to_seed("   ")
    with pytest.raises(HDError, match="seed must be"):
        master_key(b"short")
    with pytest.raises(HDError):
        dev_account(-1)
    with pytest.raises(HDError):
        dev_account(True)
    with pytest.raises(HDError):
        dev_accounts(-1)
    with pytest.raises(HDError):
        derive_child(ExtendedKey(b"\x01" * 32, b"\x00" * 32), 2**32)


def test_child_derivation_adds_scalars_mod_n() -> None:
    parent = ExtendedKey((SECP256K1_N - 1).to_bytes(32, "big"), b"\x07" * 32)
    data = b"\x00" + parent.secret + HARDENED_OFFSET.to_bytes(4, "big")
    tweak = int.from_bytes(hmac.new(parent.chain_code, data, hashlib.sha512).digest()[:32], "big")
    child = derive_child(parent, HARDENED_OFFSET)
    assert int.from_bytes(child.secret, "big") == (tweak + SECP256K1_N - 1) % SECP256K1_N
    assert child.secret.hex() not in repr(child)
