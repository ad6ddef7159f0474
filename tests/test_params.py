from pathlib import Path

import pytest
import yaml

from reproqa.errors import UserError
from reproqa.params import SECTIONS, load_params

REPO = Path(__file__).resolve().parent.parent


def write_params(tmp_path, edit) -> Path:
    document = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(document)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_repository_params_are_valid(section):
    load_params(section, REPO / "params.yaml")


def test_unknown_key_is_named_with_the_closest_valid_key(tmp_path):
    path = write_params(tmp_path, lambda d: d["split"]["near_duplicates"].update(treshold=0.7))
    with pytest.raises(UserError, match=r"split\.near_duplicates\.treshold: unknown key; did you mean 'threshold'"):
        load_params("split", path)


def test_unknown_key_in_a_list_item_is_named(tmp_path):
    path = write_params(tmp_path, lambda d: d["ingest"]["sources"][0].update(fromat="seed_jsonl"))
    with pytest.raises(UserError, match=r"ingest\.sources\.0\.fromat: unknown key; did you mean 'format'"):
        load_params("ingest", path)


def test_wrong_type_names_key_and_value(tmp_path):
    path = write_params(tmp_path, lambda d: d["split"]["near_duplicates"].update(num_perm="many"))
    with pytest.raises(UserError, match=r"split\.near_duplicates\.num_perm: .*integer.*'many'"):
        load_params("split", path)


def test_out_of_range_names_key_and_range(tmp_path):
    path = write_params(tmp_path, lambda d: d["split"]["near_duplicates"].update(threshold=1.5))
    with pytest.raises(UserError, match=r"split\.near_duplicates\.threshold: .*less than or equal to 1 \(got 1\.5\)"):
        load_params("split", path)


def test_missing_key_is_an_error_not_a_hidden_default(tmp_path):
    path = write_params(tmp_path, lambda d: d["clean"].pop("lowercase"))
    with pytest.raises(UserError, match=r"clean\.lowercase: missing"):
        load_params("clean", path)


def test_cross_field_rules(tmp_path):
    path = write_params(tmp_path, lambda d: d["split"]["fractions"].update(train=0.9))
    with pytest.raises(UserError, match=r"split\.fractions: .*must be 1"):
        load_params("split", path)
    path = write_params(tmp_path, lambda d: d["split"]["near_duplicates"].update(bands=10))
    with pytest.raises(UserError, match=r"bands \(10\) must divide num_perm \(128\)"):
        load_params("split", path)
    path = write_params(tmp_path, lambda d: d["train"].update(shared_normalization=True, distractors=0))
    with pytest.raises(UserError, match=r"train: .*shared_normalization needs distractors >= 1"):
        load_params("train", path)
    path = write_params(tmp_path, lambda d: d["train"].update(shared_normalization=True, distractors=2))
    with pytest.raises(UserError, match=r"batch_size \(8\) that is a multiple of 1 \+ distractors \(3\)"):
        load_params("train", path)
    path = write_params(tmp_path, lambda d: d["train"].update(shared_normalization=True, distractors=1))
    assert load_params("train", path).shared_normalization


def test_unknown_section_is_named(tmp_path):
    path = write_params(tmp_path, lambda d: d.update(trian={"lr": 1}))
    with pytest.raises(UserError, match=r"unknown section 'trian'"):
        load_params("ingest", path)
