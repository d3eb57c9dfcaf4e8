"""alink.testing.strategies: valid SciCat values, datasets with files."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alink import Dataset, RemotePath
from alink.client._upload_body import check_dataset, dataset_body
from alink.testing import strategies as ast

from ._helpers import example

_settings: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "database": None,
}

#: Dataset fields of scicat-backend-next (v4 dataset schema) that the shared
#: examples do not happen to show.
_MORE_SCICAT_FIELDS = {
    "orcidOfOwner",
    "license",
    "comment",
    "dataQualityMetrics",
    "sourceFolderHost",
    "instrumentGroup",
    "startTime",
    "endTime",
    "dataFormat",
    "jobParameters",
    "jobLogData",
}


def _scicat_fields() -> set[str]:
    raw = example("dataset-raw.v4.json")
    derived = example("dataset-derived.v4.json")
    return (set(raw) | set(derived) | _MORE_SCICAT_FIELDS) - {"origdatablocks"}


def _block_fields() -> tuple[set[str], set[str]]:
    block = example("dataset-raw.v4.json")["origdatablocks"][0]
    return set(block), set(block["dataFileList"][0])


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@settings(max_examples=40, **_settings)
@given(ast.datasets_with_contents())
def test_datasets_hold_valid_scicat_values(
    pair: tuple[Dataset, dict[RemotePath, bytes]],
) -> None:
    dataset, contents = pair
    fields = dataset.fields
    assert set(fields) <= _scicat_fields()
    assert dataset.type in ("raw", "derived")
    assert dataset.pid is not None
    assert fields["_id"] == fields["pid"] == str(dataset.pid)
    assert dataset.source_folder is not None
    assert dataset.source_folder.is_absolute()
    for key in ("creationTime", "createdAt", "updatedAt"):
        assert _TIME.match(fields[key]), fields[key]
    assert fields["principalInvestigators"]
    if dataset.type == "raw":
        assert fields["creationLocation"]
        if "startTime" in fields:
            assert fields["startTime"] <= fields["endTime"]
    else:
        assert fields["inputDatasets"]
        assert fields["usedSoftware"]
    addresses = [*fields["contactEmail"].split(";"), *fields.get("sharedWith", [])]
    if "ownerEmail" in fields:
        addresses.append(fields["ownerEmail"])
    for email in addresses:
        assert re.fullmatch(r"[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,6}", email), email
    for key in _metadata_keys(fields.get("scientificMetadata", {})):
        assert "." not in key
        assert not key.startswith("$")
    # Strict JSON: no NaN or infinity anywhere.
    json.dumps(dataset.to_scicat(), allow_nan=False)
    # The catalogue's sizes count the files.
    assert fields["size"] == dataset.size == sum(map(len, contents.values()))
    assert fields["numberOfFiles"] == len(dataset.files) == len(contents)
    block_keys, entry_keys = _block_fields()
    for block in dataset.to_scicat()["origdatablocks"]:
        assert set(block) <= block_keys
        for entry in block["dataFileList"]:
            assert set(entry) <= entry_keys
            assert _TIME.match(entry["time"])


def _metadata_keys(metadata: dict[str, Any]) -> list[str]:
    keys = list(metadata)
    for value in metadata.values():
        if isinstance(value, dict):
            keys.extend(value)
    return keys


@settings(max_examples=40, **_settings)
@given(ast.datasets_with_contents())
def test_files_match_their_contents(
    pair: tuple[Dataset, dict[RemotePath, bytes]],
) -> None:
    dataset, contents = pair
    folder = dataset.source_folder
    assert folder is not None
    blocks = dataset.to_scicat()["origdatablocks"]
    entries = [e for block in blocks for e in block["dataFileList"]]
    paths = [e["path"] for e in entries]
    assert len(set(paths)) == len(paths)
    for path in paths:  # relative, clean, and never the folder of another file
        assert RemotePath(path).posix == path
        assert not path.startswith("/")
        assert not {"", ".", ".."} & set(path.split("/"))
        assert not any(other.startswith(path + "/") for other in paths)
    for file, entry in zip(dataset.files, entries, strict=True):
        content = contents[folder / entry["path"]]
        assert file.size == len(content)
        # Works while File.remote_path is the full path and once it is relative.
        assert folder / file.remote_path == folder / entry["path"]
        if file.checksum is not None:
            assert file.checksum_algorithm is not None
            digest = hashlib.new(file.checksum_algorithm, content).hexdigest()
            assert file.checksum == digest


@settings(max_examples=40, **_settings)
@given(ast.datasets())
def test_a_generated_dataset_survives_to_scicat_and_from_scicat(
    dataset: Dataset,
) -> None:
    again = Dataset.from_scicat(dataset.to_scicat())
    assert again == dataset
    assert again.to_scicat() == dataset.to_scicat()
    assert json.loads(json.dumps(dataset.to_scicat())) == dataset.to_scicat()


@settings(max_examples=30, **_settings)
@given(ast.datasets(type="derived", for_upload=True))
def test_datasets_for_upload_have_only_fields_a_client_sets(dataset: Dataset) -> None:
    assert dataset.type == "derived"
    assert dataset.pid is None
    server_managed = {"_id", "pid", "createdAt", "updatedAt", "createdBy", "version"}
    assert not server_managed & set(dataset.fields)
    for block in dataset.to_scicat()["origdatablocks"]:
        assert not {"_id", "datasetId", "ownerGroup", "isPublished"} & set(block)


@settings(max_examples=40, **_settings)
@given(ast.datasets(for_upload=True))
def test_datasets_for_upload_pass_the_clients_checks(dataset: Dataset) -> None:
    # What upload_new_dataset_now refuses before sending anything: bad
    # fields, and (unless allow_empty=True) no files.
    assert check_dataset(dataset_body(dataset.fields)) == []
    assert dataset.files


@settings(max_examples=20, **_settings)
@given(
    ast.datasets(
        "raw",
        owner="librarian",
        ownerGroup=st.sampled_from(["library", "faculty"]),
        pid="PID.prefix/fixed",
        sourceFolder="/data/fixed",
        files={"a.dat": b"abc"},
        checksum_algorithm="sha256",
    )
)
def test_fields_can_be_fixed_or_drawn_from_strategies(dataset: Dataset) -> None:
    assert dataset.owner == "librarian"
    assert dataset.fields["ownerGroup"] in ("library", "faculty")
    assert str(dataset.pid) == dataset.fields["_id"] == "PID.prefix/fixed"
    assert dataset.source_folder == "/data/fixed"
    [file] = dataset.files
    assert file.checksum_algorithm == "sha256"
    # Like real catalogues, some files have no checksum.
    assert file.checksum in (None, hashlib.sha256(b"abc").hexdigest())


@settings(max_examples=20, **_settings)
@given(ast.datasets(checksum_algorithm=None, files=ast.file_contents(min_files=1)))
def test_datasets_without_checksums(dataset: Dataset) -> None:
    assert dataset.files
    assert all(f.checksum is None for f in dataset.files)
    assert all("chkAlg" not in b for b in dataset.to_scicat()["origdatablocks"])


@settings(max_examples=50, **_settings)
@given(ast.file_contents(min_files=3, max_files=8, unique_names=True))
def test_file_contents_with_unique_names(files: dict[str, bytes]) -> None:
    assert 3 <= len(files) <= 8
    names = [path.rpartition("/")[2] for path in files]
    assert len(set(names)) == len(names)


def test_strategies_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_emails"):
        ast.multi_emails(0)
    with pytest.raises(ValueError, match="max_depth"):
        ast.relative_paths(0)
    with pytest.raises(ValueError, match="min_files"):
        ast.file_contents(min_files=3, max_files=2)
    with pytest.raises(ValueError, match="max_size"):
        ast.file_contents(max_size=-1)


# --- emails and ORCIDs --------------------------------------------------------


@settings(max_examples=200, **_settings)
@given(ast.emails(), ast.multi_emails(max_emails=3))
def test_emails_pass_the_validation_scitacean_uses(email: str, many: str) -> None:
    validator = pytest.importorskip("email_validator")
    for address in [email, *many.split(";")]:
        checked = validator.validate_email(address, check_deliverability=False)
        assert checked.normalized == address
    assert 1 <= len(many.split(";")) <= 3


def test_orcid_check_characters_are_right() -> None:
    # ORCID's own examples of valid iDs (one ends in the check character X).
    assert ast._orcid_check_digit("000000021825009") == "7"
    assert ast._orcid_check_digit("000000021694233") == "X"


@settings(max_examples=200, **_settings)
@given(ast.orcids())
def test_orcids_are_valid_ids(orcid: str) -> None:
    match = re.fullmatch(
        r"https://orcid\.org/(\d{4})-(\d{4})-(\d{4})-(\d{3}[\dX])", orcid
    )
    assert match is not None
    digits = "".join(match.groups())
    assert ast._orcid_check_digit(digits[:15]) == digits[15]
    scitacean_orcid = pytest.importorskip("scitacean._internal.orcid")
    assert scitacean_orcid.orcid_id_checksum(digits) == digits[15]


@settings(max_examples=50, **_settings)
@given(ast.pids(), ast.pids(prefix="20.500.12269"))
def test_pids(pid: str, prefixed: str) -> None:
    prefix, _, rest = pid.partition("/")
    assert re.fullmatch(r"20\.500\.\d+", prefix)
    assert re.fullmatch(r"[0-9a-f-]{36}", rest)
    assert prefixed.startswith("20.500.12269/")


# --- without Hypothesis ---------------------------------------------------------


def test_importing_without_hypothesis_says_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        import alink.testing, alink.testing.fixtures, alink.testing.transfer
        try:
            import alink.testing.strategies
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert "needs Hypothesis" in out
    assert "pip install 'alink[testing]'" in out
