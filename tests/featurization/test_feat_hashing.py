"""SipHash-2-4: the published vectors, the vectorised path against the reference, and TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ParityInputError
from legacy_adapter.hashing import hash_bucket, hash_strings, siphash24

# The SipHash reference implementation's vectors (veorq/SipHash, vectors.h, `vectors_sip64`, as in the
# paper's appendix): key = bytes 00..0f, message i = bytes 00..(i-1); each tag as its 8 output bytes,
# little-endian.
PUBLISHED_SIP64 = [
    "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
    "b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
    "6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
    "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
    "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
    "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
    "94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
    "a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
    "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
    "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
    "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
    "f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
    "51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
    "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
    "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
    "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
]
K0 = int.from_bytes(bytes(range(8)), "little")
K1 = int.from_bytes(bytes(range(8, 16)), "little")

STRINGS = [
    "", " ", "a", "shop_000123", "cat_042", "mobile", "7:cat_042mobile", "ü", "日本語のクエリ", "🙂🙃",
    "a" * 7, "b" * 8, "c" * 9, "d" * 15, "e" * 16, "x" * 255, "y" * 256, "z" * 1000, "\x00", "a\x00b",
    "Zürich", "\u00a0nbsp", "tab\tsep", "\ufeffbom",
]


@pytest.mark.parametrize("n", range(64))
def test_siphash24_matches_published_vector(n):
    expected = int.from_bytes(bytes.fromhex(PUBLISHED_SIP64[n]), "little")
    assert siphash24(bytes(range(n)), K0, K1) == expected


def test_vectorised_path_equals_reference_on_all_lengths():
    rng = np.random.default_rng(7)
    values = STRINGS + ["".join(chr(c) for c in rng.integers(32, 0x3000, size=n)) for n in rng.integers(0, 40, 300)]
    key = (123456789, 987654321)
    expected = [siphash24(v.encode("utf-8"), *key) for v in values]
    assert hash_strings(values, key=key).tolist() == expected
    expected_buckets = [h % 1009 for h in expected]
    got = hash_bucket(values, 1009, key)
    assert got.dtype == np.int64 and got.tolist() == expected_buckets


def test_hash_bucket_hashes_repeats_consistently_and_keeps_order():
    values = ["b", "a", "b", "", "a", "b"]
    got = hash_bucket(values, 97, (1, 2))
    assert got.tolist() == [siphash24(v.encode(), 1, 2) % 97 for v in values]
    assert hash_bucket(np.array(values, dtype=object), 97, (1, 2)).tolist() == got.tolist()
    assert hash_bucket([], 97, (1, 2)).shape == (0,)


def test_key_changes_the_hash():
    assert siphash24(b"shop_1", 1, 2) != siphash24(b"shop_1", 2, 1)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: hash_bucket(["a", None], 10, (1, 2)), id="None-element"),
        pytest.param(lambda: hash_bucket(["a", 3], 10, (1, 2)), id="int-element"),
        pytest.param(lambda: hash_bucket("abc", 10, (1, 2)), id="bare-string"),
        pytest.param(lambda: hash_bucket(["a"], 0, (1, 2)), id="zero-buckets"),
        pytest.param(lambda: hash_bucket(["a"], 2.5, (1, 2)), id="float-buckets"),
        pytest.param(lambda: hash_bucket(["a"], 10, (1,)), id="short-key"),
        pytest.param(lambda: hash_bucket(["a"], 10, (-1, 2)), id="negative-key"),
        pytest.param(lambda: hash_bucket(["a"], 10, (2**63, 2)), id="key-beyond-int64"),
        pytest.param(lambda: hash_bucket(["\ud800"], 10, (1, 2)), id="lone-surrogate"),
        pytest.param(lambda: siphash24("text", 1, 2), id="str-not-bytes"),
        pytest.param(lambda: siphash24(b"x", 2**64, 2), id="key-beyond-uint64"),
    ],
)
def test_bad_arguments_are_refused_clearly(call):
    with pytest.raises(ParityInputError):
        call()


def test_bad_element_error_names_position():
    with pytest.raises(ParityInputError, match=r"values\[1\]=3"):
        hash_bucket(["a", 3], 10, (1, 2))
    with pytest.raises(ParityInputError, match=r"values\[3\]='\\ud800'"):
        hash_bucket(["a", "a", "b", "\ud800"], 10, (1, 2))


@pytest.mark.tf
@pytest.mark.parametrize("num_buckets", [1, 2, 1000, 65536, 2**63 - 1])
@pytest.mark.parametrize("key", [(0, 0), (K0, K1), (0x1F2E3D4C5B6A7988, 0x0123456789ABCDEF), (2**63 - 1, 1)])
def test_equals_tensorflow_to_hash_bucket_strong(num_buckets, key):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(num_buckets % 1000)
    values = STRINGS + [
        "".join(chr(c) for c in rng.integers(1, 0x10FFFF, size=n) if not 0xD800 <= c <= 0xDFFF)
        for n in rng.integers(0, 30, 200)
    ]
    expected = tf.strings.to_hash_bucket_strong(
        tf.constant([v.encode("utf-8") for v in values]), num_buckets, key=list(key)
    ).numpy()
    np.testing.assert_array_equal(hash_bucket(values, num_buckets, key), expected)
