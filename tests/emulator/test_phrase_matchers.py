"""Phrase matchers (``phrase_matchers.PhraseMatchers``): create, get, list, update, delete with rule groups, both
transports, through Google's own client (issue 23)."""

from __future__ import annotations

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import Client, error_of, status_of

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

GroupType = ci.PhraseMatchRuleGroup.PhraseMatchRuleGroupType


def _group(kind: GroupType, words: list[str], negated: bool = False) -> ci.PhraseMatchRuleGroup:
    group = ci.PhraseMatchRuleGroup(type_=kind)
    for word in words:
        rule = ci.PhraseMatchRule(query=word, negated=negated)
        rule.config.exact_match_config = ci.ExactMatchConfig()
        group.phrase_match_rules.append(rule)
    return group


def _all_of_sample() -> ci.PhraseMatcher:
    """The matcher Google's sample create_phrase_matcher_all_of.py builds."""
    matcher = ci.PhraseMatcher(display_name="NON_SHIPPING_PHONE_SERVICE", active=True)
    matcher.type_ = ci.PhraseMatcher.PhraseMatcherType.ALL_OF
    matcher.phrase_match_rule_groups.append(_group(GroupType.ANY_OF, ["PHONE", "CELLPHONE"]))
    matcher.phrase_match_rule_groups.append(_group(GroupType.ALL_OF, ["SHIPPING", "DELIVERY"], negated=True))
    return matcher


def _any_of(display_name: str, active: bool = True) -> ci.PhraseMatcher:
    """The matcher of Google's sample create_phrase_matcher_any_of.py, under another name."""
    matcher = ci.PhraseMatcher(display_name=display_name, active=active)
    matcher.type_ = ci.PhraseMatcher.PhraseMatcherType.ANY_OF
    matcher.phrase_match_rule_groups.append(_group(GroupType.ANY_OF, ["PHONE", "CELLPHONE"]))
    return matcher


def _names(api: Client, **fields: object) -> list[str]:
    return [m.name for m in api.list_phrase_matchers(request={"parent": PARENT, **fields})]


def test_googles_all_of_sample_creates_a_matcher_that_get_and_list_show(api: Client) -> None:
    sent = _all_of_sample()
    sent.name = f"{PARENT}/phraseMatchers/mine"  # the request has no id: the server names it (AIP-133)
    made = api.create_phrase_matcher(parent=PARENT, phrase_matcher=sent)
    assert made.name.startswith(f"{PARENT}/phraseMatchers/") and made.name != sent.name
    assert made.type_ == ci.PhraseMatcher.PhraseMatcherType.ALL_OF and made.active
    groups = made.phrase_match_rule_groups
    assert [g.type_ for g in groups] == [GroupType.ANY_OF, GroupType.ALL_OF]
    assert [(r.query, r.negated) for r in groups[1].phrase_match_rules] == [("SHIPPING", True), ("DELIVERY", True)]
    assert "exact_match_config" in groups[0].phrase_match_rules[0].config
    assert made.revision_id and made.version_tag == made.revision_id, '"it will default to `revision_id`"'
    assert made.revision_create_time == made.update_time == made.activation_update_time
    assert api.get_phrase_matcher(name=made.name) == made
    assert _names(api) == [made.name]


@pytest.mark.parametrize(("change", "shown"), [
    (lambda m: setattr(m, "type_", 0), "Invalid phrase_matcher.type_ 0: the field is required"),
    (lambda m: setattr(m.phrase_match_rule_groups[1], "type_", 0),
     "Invalid phrase_matcher.phrase_match_rule_groups[1].type_ 0: the field is required"),
    (lambda m: setattr(m.phrase_match_rule_groups[0].phrase_match_rules[1], "query", ""),
     "Invalid phrase_matcher.phrase_match_rule_groups[0].phrase_match_rules[1].query '': the field is required"),
])
def test_create_refuses_a_matcher_without_its_required_fields(api: Client, change: object, shown: str) -> None:
    matcher = _all_of_sample()
    change(matcher)  # type: ignore[operator]
    err = error_of(lambda: api.create_phrase_matcher(parent=PARENT, phrase_matcher=matcher))
    assert status_of(err) == "INVALID_ARGUMENT" and shown in err.message, err
    assert _names(api) == [], "nothing stored"


def test_list_pages_and_filters(api: Client) -> None:
    names = [api.create_phrase_matcher(parent=PARENT, phrase_matcher=_any_of(f"m{i}", active=i != 1)).name
             for i in range(3)]
    all_of = api.create_phrase_matcher(parent=PARENT, phrase_matcher=_all_of_sample()).name
    first = api.list_phrase_matchers(request={"parent": PARENT, "page_size": 3})
    assert len(first.phrase_matchers) == 3 and first.next_page_token, "a page of 3, and a token for the rest"
    assert _names(api, page_size=1) == [*names, all_of], "the pager follows next_page_token, in creation order"
    assert _names(api, filter='display_name="m2"') == [names[2]]
    assert _names(api, filter="active=false") == [names[1]]
    assert _names(api, filter="type=ANY_OF AND active=true") == [names[0], names[2]]
    assert _names(api, filter="type=ALL_OF") == [all_of]
    assert api.list_phrase_matchers(parent="projects/other/locations/us-central1").phrase_matchers == []


@pytest.mark.parametrize(("fields", "shown"), [
    ({"filter": 'display_name:"m"'}, "does not understand 'display_name:\"m\"'"),
    ({"filter": "active=maybe"}, "does not understand 'active=maybe'"),
    ({"page_size": -1}, "Invalid page_size -1"),
    ({"page_token": "x"}, "Invalid page_token 'x'"),
])
def test_list_refuses_what_it_cannot_read(api: Client, fields: dict[str, object], shown: str) -> None:
    err = error_of(lambda: _names(api, **fields))
    assert status_of(err) == "INVALID_ARGUMENT" and shown in err.message, err


def test_update_by_mask_commits_a_revision_except_for_activation(emulator: Emulator, api: Client) -> None:
    made = api.create_phrase_matcher(parent=PARENT, phrase_matcher=_all_of_sample())
    emulator.advance_clock(5)
    # AIP-203: a Required field (type) may be left out when the mask leaves it out.
    renamed = api.update_phrase_matcher(phrase_matcher={"name": made.name, "display_name": "PHONE_ONLY"},
                                        update_mask={"paths": ["display_name"]})
    assert renamed.display_name == "PHONE_ONLY" and renamed.type_ == made.type_
    assert renamed.phrase_match_rule_groups == made.phrase_match_rule_groups
    assert renamed.revision_id != made.revision_id and renamed.version_tag == renamed.revision_id
    assert renamed.revision_create_time > made.revision_create_time == made.activation_update_time
    assert renamed.activation_update_time == made.activation_update_time
    emulator.advance_clock(5)
    # "A new revision is committed whenever the matcher is changed, except when it is activated or deactivated."
    paused = api.update_phrase_matcher(phrase_matcher={"name": made.name, "active": False},
                                       update_mask={"paths": ["active"]})
    assert not paused.active and paused.revision_id == renamed.revision_id
    assert paused.activation_update_time > renamed.activation_update_time and paused.update_time > renamed.update_time
    tagged = api.update_phrase_matcher(phrase_matcher={"name": made.name, "version_tag": "v1"},
                                       update_mask={"paths": ["version_tag"]})
    assert tagged.version_tag == "v1" and tagged.revision_id == renamed.revision_id
    # No mask: the fields the patch sets (AIP-134); a chosen tag stays with a new revision.
    regrouped = api.update_phrase_matcher(phrase_matcher={
        "name": made.name, "phrase_match_rule_groups": [_group(GroupType.ANY_OF, ["MODEM"])]})
    assert [r.query for g in regrouped.phrase_match_rule_groups for r in g.phrase_match_rules] == ["MODEM"]
    assert regrouped.revision_id != tagged.revision_id and regrouped.version_tag == "v1"
    assert api.get_phrase_matcher(name=made.name) == regrouped


@pytest.mark.parametrize(("patch", "paths", "shown"), [
    ({"display_name": "x"}, ["displayname"], "PhraseMatcher has no field 'displayname'"),
    ({"display_name": "x"}, ["*"], "Invalid phrase_matcher.type_ 0: the field is required"),
    ({"phrase_match_rule_groups": [{"phrase_match_rules": [{"query": "q"}]}]}, ["phrase_match_rule_groups"],
     "Invalid phrase_matcher.phrase_match_rule_groups[0].type_ 0"),
    ({"display_name": "x"}, ["phrase_match_rule_groups.type"], "phrase_match_rule_groups is not a message"),
])
def test_update_refusals_change_nothing(api: Client, patch: dict[str, object], paths: list[str], shown: str) -> None:
    made = api.create_phrase_matcher(parent=PARENT, phrase_matcher=_all_of_sample())
    err = error_of(lambda: api.update_phrase_matcher(
        phrase_matcher={"name": made.name, **patch}, update_mask={"paths": paths}))
    assert status_of(err) == "INVALID_ARGUMENT" and shown in err.message, err
    assert api.get_phrase_matcher(name=made.name) == made


def test_delete_then_it_is_not_found(api: Client) -> None:
    made = api.create_phrase_matcher(parent=PARENT, phrase_matcher=_any_of("gone"))
    api.delete_phrase_matcher(name=made.name)
    assert _names(api) == []
    for call in (lambda: api.get_phrase_matcher(name=made.name), lambda: api.delete_phrase_matcher(name=made.name),
                 lambda: api.update_phrase_matcher(phrase_matcher={"name": made.name, "display_name": "x"})):
        err = error_of(call)
        assert status_of(err) == "NOT_FOUND" and made.name in err.message, err
