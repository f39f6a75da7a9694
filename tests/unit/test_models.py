import json
from pathlib import Path

import pytest

from addon.models import (
    BUILTIN_MODELS,
    LIST_CREATED,
    ModelInfo,
    ModelMap,
    anthropic_list,
    family_of,
    gemini_list,
    gemini_model,
    openai_list,
)

UPSTREAM_FIXTURES = Path(__file__).parents[2].parent / "shared" / "fixtures" / "upstream"


def fixture_models() -> list[dict]:
    return json.loads((UPSTREAM_FIXTURES / "gemini_models_list.json").read_text())["models"]


def rows(n: int) -> list[ModelInfo]:
    return [ModelInfo(f"m-{i:03d}", f"M {i}", f"m-{i:03d}", 1000, 100, False, "agent")
            for i in range(n)]


# --- resolve: precedence -------------------------------------------------------------------

def test_exact_custom_beats_wildcard_and_builtin():
    models = ModelMap({"gpt-4o": "exact-target", "gpt-4*": "wild-target"})
    assert models.resolve("gpt-4o") == "exact-target"


def test_custom_wildcard_beats_builtin():
    models = ModelMap({"gpt-4*": "wild-target"})
    assert models.resolve("gpt-4o") == "wild-target"


def test_builtin_beats_pass_through():
    assert ModelMap().resolve("gpt-4o") == "gemini-2.5-flash"
    assert ModelMap().resolve("gpt-3.5-turbo-16k") == "gemini-2.5-flash"


def test_unknown_name_passes_through_unchanged():
    assert ModelMap({"a*": "b"}).resolve("Some-Model_X") == "Some-Model_X"


@pytest.mark.parametrize(("client", "upstream"), [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-6"),
    ("claude-3-5-haiku-20241022", "claude-sonnet-4-6"),
    ("claude-opus-4-5-thinking", "claude-opus-4-6-thinking"),
    ("claude-opus-4.6", "claude-opus-4-6-thinking"),
    ("claude-sonnet-4-6", "claude-sonnet-4-6"),
    ("gemini-3-pro", "gemini-3-pro-preview"),
    ("gemini-3.1-pro-high", "gemini-pro-agent"),
    ("gemini-2.5-flash", "gemini-2.5-flash"),
    ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ("gpt-oss-120b-medium", "gpt-oss-120b-medium"),
])
def test_builtin_aliases(client, upstream):
    assert ModelMap().resolve(client) == upstream


def test_custom_entry_overrides_a_builtin_model_id():
    models = ModelMap({"gemini-2.5-flash": "gemini-2.5-pro"})
    assert models.resolve("gemini-2.5-flash") == "gemini-2.5-pro"


# --- resolve: wildcards --------------------------------------------------------------------

def test_most_specific_wildcard_wins_regardless_of_order():
    entries = [("claude-*", "general"), ("claude-opus-*", "opus"), ("*", "anything")]
    for ordering in (entries, entries[::-1]):
        models = ModelMap(dict(ordering))
        assert models.resolve("claude-opus-4") == "opus"
        assert models.resolve("claude-haiku-4") == "general"
        assert models.resolve("llama") == "anything"


def test_several_stars_in_one_pattern():
    models = ModelMap({"*-sonnet-*-thinking": "thinker", "*sonnet*": "sonnet"})
    assert models.resolve("claude-sonnet-4-5-thinking") == "thinker"
    assert models.resolve("claude-sonnet-4-5") == "sonnet"
    assert models.resolve("x-sonnet--thinking") == "thinker"


def test_wildcard_must_match_the_whole_name():
    models = ModelMap({"gpt-*-mini": "small"})
    assert models.resolve("gpt-4o-mini") == "small"
    assert models.resolve("gpt-4o-mini-2024") == "gemini-2.5-flash"
    assert models.resolve("xgpt-4o-mini") == "xgpt-4o-mini"


def test_wildcard_is_literal_apart_from_star():
    assert ModelMap({"a.b*": "hit"}).resolve("aXb-1") == "aXb-1"
    assert ModelMap({"a.b*": "hit"}).resolve("a.b-1") == "hit"


def test_wildcard_is_case_sensitive():
    assert ModelMap({"GPT-*": "upper"}).resolve("gpt-4o") == "gemini-2.5-flash"


def test_wildcard_tie_broken_by_longer_pattern_then_alphabet():
    assert ModelMap({"ab*": "short", "a*b**": "long"}).resolve("abb") == "long"
    assert ModelMap({"x*y": "first", "*xy": "second"}).resolve("xy") == "second"
    assert ModelMap({"*xy": "second", "x*y": "first"}).resolve("xy") == "second"


def test_models_prefix_is_stripped_before_mapping():
    models = ModelMap({"my-model": "gemini-2.5-pro"})
    assert models.resolve("models/my-model") == "gemini-2.5-pro"
    assert models.resolve("models/gemini-2.5-flash") == "gemini-2.5-flash"
    assert models.resolve("models/gpt-4") == "gemini-2.5-flash"


# --- validation ----------------------------------------------------------------------------

@pytest.mark.parametrize(("custom", "named"), [
    ({"": "gemini-2.5-flash"}, "''"),
    ({"gpt-4o": ""}, "'gpt-4o'"),
    ({"gpt-4o": "  "}, "'gpt-4o'"),
    ({"ok": "fine", "broken": None}, "'broken'"),
])
def test_bad_custom_entry_is_named_in_the_error(custom, named):
    with pytest.raises(ValueError, match="model mapping entry") as raised:
        ModelMap(custom)
    assert named in str(raised.value)


def test_empty_and_missing_custom_mappings_are_fine():
    assert ModelMap(None).resolve("gpt-4") == ModelMap({}).resolve("gpt-4") == "gemini-2.5-flash"


# --- catalog -------------------------------------------------------------------------------

def test_catalog_lists_builtin_custom_and_served_sorted_and_unique():
    models = ModelMap({"my-alias": "gemini-2.5-pro", "wild-*": "gemini-2.5-flash"})
    listed = models.catalog(served=["gemini-2.5-flash", "models/gemini-9-flash", "gemini-9-flash"])
    ids = [m.id for m in listed]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    assert {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview", "claude-sonnet-4-6",
            "gemini-3.1-pro-low", "gemini-2.5-flash-image", "my-alias",
            "gemini-9-flash"} <= set(ids)
    assert not any("*" in i for i in ids)


def test_catalog_without_served_is_builtin_plus_custom():
    ids = [m.id for m in ModelMap({"my-alias": "x"}).catalog()]
    assert ids == sorted({m.id for m in BUILTIN_MODELS} | {"my-alias"})


def test_custom_catalog_row_takes_the_target_capabilities():
    row = {m.id: m for m in ModelMap({"my-alias": "gemini-2.0-flash"}).catalog()}["my-alias"]
    assert (row.family, row.output_token_limit, row.thinking) == ("gemini-flash", 8192, False)


def test_served_unknown_model_gets_family_defaults():
    row = {m.id: m for m in ModelMap().catalog(["gemini-9-pro-exp"])}["gemini-9-pro-exp"]
    assert row.family == "gemini-pro"
    assert row.thinking is True


def test_builtin_rows_are_unique_and_image_models_are_image_gen():
    ids = [m.id for m in BUILTIN_MODELS]
    assert len(ids) == len(set(ids))
    image = {m.id for m in BUILTIN_MODELS if m.kind == "image_gen"}
    assert image == {"gemini-2.5-flash-image", "gemini-3-pro-image", "gemini-3.1-flash-image"}
    assert {m.kind for m in BUILTIN_MODELS} == {"agent", "image_gen"}


@pytest.mark.parametrize(("model", "family"), [
    ("gemini-2.5-flash", "gemini-flash"),
    ("gemini-3.5-flash-extra-low", "gemini-flash"),
    ("gemini-2.5-flash-lite", "gemini-flash-lite"),
    ("gemini-2.5-pro", "gemini-pro"),
    ("gemini-pro-agent", "gemini-pro"),
    ("gemini-2.5-flash-image", "gemini-image"),
    ("models/gemini-3-pro-image", "gemini-image"),
    ("claude-opus-4-6-thinking", "claude"),
    ("gpt-oss-120b-medium", "gpt-oss"),
    ("chat_20706", "chat_20706"),
])
def test_family_of(model, family):
    assert family_of(model) == family


# --- list shapes ---------------------------------------------------------------------------

def test_openai_list_shape():
    body = openai_list(ModelMap().catalog()[:2])
    assert body["object"] == "list"
    assert len(body["data"]) == 2
    for item in body["data"]:
        assert item.keys() == {"id", "object", "created", "owned_by"}
        assert item["object"] == "model"
        assert (item["created"], item["owned_by"]) == (LIST_CREATED, "interlock")


def test_anthropic_list_shape():
    models = ModelMap().catalog()
    body = anthropic_list(models)
    assert body.keys() == {"data", "has_more", "first_id", "last_id"}
    assert body["has_more"] is False
    assert (body["first_id"], body["last_id"]) == (models[0].id, models[-1].id)
    for item, m in zip(body["data"], models, strict=True):
        assert item == {"type": "model", "id": m.id, "display_name": m.display_name,
                        "created_at": "2024-02-01T00:00:00Z"}
    assert anthropic_list([]) == {"data": [], "has_more": False, "first_id": None, "last_id": None}


def test_gemini_model_has_exactly_the_fixture_keys():
    thinking_entries = [e for e in fixture_models() if "thinking" in e]
    assert thinking_entries
    for m in ModelMap().catalog():
        entry = gemini_model(m)
        for sample in thinking_entries:
            assert entry.keys() == sample.keys()
        for key in entry:
            assert type(entry[key]) is type(thinking_entries[0][key]), key


def test_gemini_model_values():
    m = next(m for m in BUILTIN_MODELS if m.id == "gemini-2.5-flash")
    entry = gemini_model(m)
    assert entry["name"] == "models/gemini-2.5-flash"
    assert entry["displayName"] == "Gemini 2.5 Flash"
    assert (entry["inputTokenLimit"], entry["outputTokenLimit"]) == (1048576, 65536)
    assert entry["thinking"] is True
    assert entry["supportedGenerationMethods"] == [
        "generateContent", "countTokens", "streamGenerateContent"]


def test_builtin_limits_agree_with_the_real_gemini_list():
    ours = {m.id: m for m in BUILTIN_MODELS}
    for sample in fixture_models():
        model_id = sample["name"].removeprefix("models/")
        if model_id in ours:
            m = ours[model_id]
            assert (m.input_token_limit, m.output_token_limit) == (
                sample["inputTokenLimit"], sample["outputTokenLimit"]), model_id
            assert m.thinking == sample.get("thinking", False), model_id


# --- gemini paging -------------------------------------------------------------------------

def test_gemini_list_default_page_is_fifty():
    body = gemini_list(rows(120))
    assert len(body["models"]) == 50
    assert isinstance(body["nextPageToken"], str)


def test_gemini_list_single_page_has_no_token():
    body = gemini_list(rows(3))
    assert [e["name"] for e in body["models"]] == ["models/m-000", "models/m-001", "models/m-002"]
    assert "nextPageToken" not in body


def test_gemini_paging_walks_every_model_once():
    models = rows(7)
    seen, token, pages = [], None, 0
    while True:
        body = gemini_list(models, page_size=3, page_token=token)
        seen += [e["name"] for e in body["models"]]
        pages += 1
        token = body.get("nextPageToken")
        if token is None:
            break
    assert pages == 3
    assert seen == [f"models/{m.id}" for m in models]


def test_gemini_exact_multiple_ends_without_token():
    first = gemini_list(rows(4), page_size=2)
    second = gemini_list(rows(4), page_size=2, page_token=first["nextPageToken"])
    assert len(second["models"]) == 2
    assert "nextPageToken" not in second


def test_gemini_page_size_zero_means_default_and_is_capped():
    assert len(gemini_list(rows(60), page_size=0)["models"]) == 50
    assert len(gemini_list(rows(1200), page_size=5000)["models"]) == 1000


def test_gemini_empty_page_token_means_first_page():
    assert len(gemini_list(rows(3), page_token="")["models"]) == 3


@pytest.mark.parametrize("token", ["nonsense", "!!!", "aW50ZXJsb2NrLW1vZGVsczp4", "MTA"])
def test_gemini_bad_page_token_is_rejected(token):
    with pytest.raises(ValueError, match="pageToken"):
        gemini_list(rows(3), page_token=token)


def test_gemini_negative_page_size_is_rejected():
    with pytest.raises(ValueError, match="pageSize"):
        gemini_list(rows(3), page_size=-1)


# --- detect --------------------------------------------------------------------------------

def test_detect_plain_model():
    assert ModelMap().detect("gpt-4o") == {
        "model": "gpt-4o",
        "mapped_model": "gemini-2.5-flash",
        "type": "agent",
        "features": {"has_web_search": False, "is_image_gen": False, "thinking": True},
    }


def test_detect_online_suffix_means_web_search_on_the_base_model():
    result = ModelMap().detect("gemini-2.5-flash-online")
    assert result["mapped_model"] == "gemini-2.5-flash"
    assert result["type"] == "web_search"
    assert result["features"]["has_web_search"] is True
    assert result["features"]["is_image_gen"] is False


def test_detect_image_model():
    result = ModelMap().detect("models/gemini-2.5-flash-image")
    assert result["model"] == "models/gemini-2.5-flash-image"
    assert result["mapped_model"] == "gemini-2.5-flash-image"
    assert result["type"] == "image_gen"
    assert result["features"] == {"has_web_search": False, "is_image_gen": True, "thinking": False}


def test_detect_follows_custom_mapping_to_an_image_model():
    result = ModelMap({"painter": "gemini-3-pro-image"}).detect("painter")
    assert (result["mapped_model"], result["type"]) == ("gemini-3-pro-image", "image_gen")


def test_detect_custom_entry_for_an_online_name_wins():
    result = ModelMap({"search-online": "gemini-2.5-pro"}).detect("search-online")
    assert (result["mapped_model"], result["type"]) == ("gemini-2.5-pro", "web_search")


def test_detect_thinking_follows_mapped_model():
    assert ModelMap().detect("gemini-2.0-flash")["features"]["thinking"] is False
    assert ModelMap().detect("claude-opus-4-5")["features"]["thinking"] is True
