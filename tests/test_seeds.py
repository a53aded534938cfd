"""The reference figures as data: values, sources, alternatives labelled as such, and clear errors."""
from pathlib import Path

import pytest

from flywheel.seeds import SeedError, load, reference

SOURCE = "a humanoid data-collection centre's public figures as given in the project brief"


def test_primary_figures():
    ref = reference()
    assert (ref.per_robot_low, ref.per_robot_high) == (300, 500)
    assert ref.per_field == 30_000
    assert ref.per_year == 100_000_000
    assert all(f.kind == "primary" for f in ref.primary())
    assert ref.figures["episodes_per_field_per_day"].approximate


def test_every_figure_names_its_source():
    ref = reference()
    for f in ref.figures.values():
        assert f.source == SOURCE
        assert f.label and f.unit


def test_alternatives_are_labelled_and_kept_apart():
    ref = reference()
    alts = {f.key: f for f in ref.alternatives()}
    assert len(alts) == 4
    assert all(f.label.startswith("alternative figure:") for f in alts.values())
    over = alts["alt_episodes_per_robot_per_day_over_500"]
    assert over.value == 500 and over.bound == "lower"
    assert alts["alt_episodes_per_field_per_day_range"].value == [20_000, 30_000]
    assert (alts["alt_episodes_per_field_per_day_range"].low, alts["alt_episodes_per_field_per_day_range"].high) == (20_000, 30_000)
    assert alts["alt_episodes_per_field_per_day_rising"].value == 50_000
    assert alts["alt_episodes_first_year"].value == 10_000_000
    # the headline multiples never use an alternative
    assert ref.per_robot_high == ref.figures["episodes_per_robot_per_day_high"].value


def test_as_dict_is_plain_data():
    import json

    d = reference().as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["per_robot_per_day"] == [300, 500]


def test_packaged_file_is_package_data():
    ref = reference()
    assert Path(ref.path).name == "reference.toml" and Path(ref.path).is_file()


@pytest.mark.parametrize("text, message", [
    ("[figures.x]\nvalue = 1\n", "lacks unit"),
    ('[figures.x]\nvalue = -3\nunit = "u"\nlabel = "l"\nkind = "primary"\nsource = "s"\n', "positive number"),
    ('[figures.x]\nvalue = 3\nunit = "u"\nlabel = "l"\nkind = "guess"\nsource = "s"\n', "kind 'guess'"),
    ('[figures.x]\nvalue = 3\nunit = "u"\nlabel = "l"\nkind = "primary"\nsource = " "\n', "empty source"),
    ('[figures.x]\nvalue = 3\nunit = "u"\nlabel = "l"\nkind = "primary"\nsource = "s"\n', "episodes_per_robot_per_day_low"),
    ("figures = [", "not valid TOML"),
])
def test_malformed_reference_files_are_named(tmp_path, text, message):
    path = tmp_path / "ref.toml"
    path.write_text(text)
    with pytest.raises(SeedError, match=message) as err:
        load(path)
    assert str(path) in str(err.value)
