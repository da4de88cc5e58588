"""Password rules and hashing (NIST SP 800-63B, OWASP argon2id parameters)."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from chalicelib.accounts import passwords
from chalicelib.errors import PasswordRejected


def test_fifteen_characters_are_enough_and_fourteen_are_not() -> None:
    assert passwords.check_new_password("river otter lamp") == "river otter lamp"  # 16
    assert passwords.check_new_password("xq9 river lamps") == "xq9 river lamps"  # 15
    with pytest.raises(PasswordRejected, match="at least 15 characters"):
        passwords.check_new_password("xq9 river lamp")  # 14


def test_long_passwords_are_accepted_and_never_truncated() -> None:
    long_one = "a sentence that keeps going " * 9  # 252 characters
    assert passwords.check_new_password(long_one) == long_one
    stored = passwords.hash_password(long_one)
    assert passwords.verify_password(stored, long_one)
    # A difference after character 72 (bcrypt's limit) still matters.
    assert not passwords.verify_password(stored, long_one[:-1] + "X")


def test_more_than_the_maximum_is_refused_with_a_reason() -> None:
    with pytest.raises(PasswordRejected, match="at most 256"):
        passwords.check_new_password("z" * 100 + "y" * 157)


def test_no_composition_rules_apply() -> None:
    # All lower case, no digits, no symbols: fine when long and uncommon.
    assert passwords.check_new_password("purple elephants dance quietly")


def test_common_password_list_comes_from_zxcvbn_and_has_over_ten_thousand_entries() -> None:
    common = passwords.common_passwords()
    assert len(common) >= 10_000
    assert "password" in common and "123456" in common


def test_a_common_password_is_refused_with_a_clear_reason() -> None:
    common_long = next(p for p in passwords.common_passwords() if len(p) >= 15)
    with pytest.raises(PasswordRejected, match="commonly used passwords"):
        passwords.check_new_password(common_long)
    with pytest.raises(PasswordRejected, match="commonly used passwords"):
        passwords.check_new_password(common_long.upper())


def test_a_repeated_common_word_or_character_is_refused() -> None:
    with pytest.raises(PasswordRejected, match="repeats"):
        passwords.check_new_password("passwordpassword")
    with pytest.raises(PasswordRejected, match="repeats"):
        passwords.check_new_password("a" * 20)


def test_the_user_name_or_mail_address_may_not_be_used() -> None:
    with pytest.raises(PasswordRejected, match="user name or mail address"):
        passwords.check_new_password(
            "my name is bob.smith ok", context=("bob.smith-123456", "bob.smith@clinic.example")
        )


def test_the_plans_name_and_the_products_name_may_not_be_used() -> None:
    with pytest.raises(PasswordRejected, match="name of the plan"):
        passwords.check_new_password("my Seal-Post login for work", names=("Example Health",))
    with pytest.raises(PasswordRejected, match="name of the plan"):
        passwords.check_new_password("exam ple health is where i work", names=("Example Health",))
    assert passwords.check_new_password("my health is fine thank you", names=("Example Health",))


def test_passwords_are_nfkc_normalised_before_hashing() -> None:
    composed = "caf\u00e9 au lait please now"
    decomposed = "cafe\u0301 au lait please now"
    stored = passwords.hash_password(passwords.check_new_password(composed))
    assert passwords.verify_password(stored, decomposed)
    # Full-width letters normalise to ASCII under NFKC.
    assert passwords.verify_password(
        passwords.hash_password("ABCDEFGHIJKLMNOP"), "\uff21\uff22\uff23\uff24EFGHIJKLMNOP"
    )


def test_hashes_are_argon2id_with_owasp_parameters() -> None:
    stored = passwords.hash_password("purple elephants dance quietly")
    assert stored.startswith("$argon2id$")
    params = extract_parameters(stored)
    assert params.time_cost >= 2
    assert params.memory_cost >= 19 * 1024
    assert params.parallelism == 1


def test_verification_never_raises_for_damaged_hashes() -> None:
    assert passwords.verify_password("not-a-hash", "anything at all here") is False
    assert passwords.verify_password(passwords.dummy_hash(), "anything at all here") is False
