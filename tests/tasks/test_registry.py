from __future__ import annotations

import pytest

from uniret.tasks.registry import QueryFormat, UnknownTaskError, format_query, get_task


def test_slot_filling_separator() -> None:
    spec = get_task("trex")
    assert (
        format_query("Marie Curie [SEP] place of birth", spec) == "Marie Curie [SEP] place of birth"
    )
    assert format_query("Marie Curie [SEP] place of birth", spec, QueryFormat(sep=" ")) == (
        "Marie Curie place of birth"
    )


def test_entity_markers_kept_or_stripped_and_windowed() -> None:
    spec = get_task("aidayago2")
    text = "one two three [START_ENT] Warsaw [END_ENT] four five six"
    assert format_query(text, spec) == text
    assert format_query(text, spec, QueryFormat(entity_markers=False)) == (
        "one two three Warsaw four five six"
    )
    assert format_query(text, spec, QueryFormat(entity_window=1)) == (
        "three [START_ENT] Warsaw [END_ENT] four"
    )


def test_dialogue_keeps_last_turns_that_fit() -> None:
    spec = get_task("wow")
    text = "first turn is long enough\nsecond turn\nthird one here"
    assert (
        format_query(text, spec, QueryFormat(dialogue_max_words=5)) == "second turn third one here"
    )
    assert format_query(text, spec, QueryFormat(dialogue_max_words=2)) == "one here"


def test_unknown_task_lists_known_ones() -> None:
    with pytest.raises(UnknownTaskError, match=r"known tasks: .*trex"):
        get_task("nosuchtask")
