"""The registry as a recipe's `python_processors` uses it: names, module paths, params."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from common.errors import RecipeError
from common.processors import ProcessorContext, build, registry, resolve

CONTEXT = ProcessorContext(as_of=datetime(2024, 4, 1, tzinfo=UTC))


def test_an_unknown_processor_lists_every_valid_name() -> None:
    with pytest.raises(RecipeError) as caught:
        build(
            "SentimentProcessor", {}, CONTEXT, where="recipe `demo` meta.yml: python_processors[2]"
        )
    message = str(caught.value)
    assert message.startswith("recipe `demo` meta.yml: python_processors[2]: unknown processor")
    assert len(registry()) == 7
    for name in registry():
        assert name in message


def test_a_misspelt_name_gets_a_suggestion() -> None:
    with pytest.raises(RecipeError, match="did you mean `HandoffProcessor`"):
        resolve("HandofProcessor", where="test")


@pytest.mark.parametrize(
    "path",
    [
        "common.processors.handoff.TemporalProcessor",  # right class, wrong module
        "lead_recovery.processors.template.TemplateDetectionProcessor",  # old package
    ],
)
def test_a_wrong_module_path_is_unknown(path: str) -> None:
    with pytest.raises(RecipeError, match="unknown processor"):
        resolve(path, where="test")


def test_module_path_and_name_build_the_same_processor() -> None:
    by_path = build(
        "common.processors.human_transfer.HumanTransferProcessor", {}, CONTEXT, where="t"
    )
    by_name = build("HumanTransferProcessor", {}, CONTEXT, where="t")
    assert type(by_path) is type(by_name)
    assert by_path.params == by_name.params


def test_an_unknown_param_is_a_recipe_error_naming_it() -> None:
    with pytest.raises(RecipeError, match=r"params of ValidationProcessor: `questions`"):
        build("ValidationProcessor", {"questions": ["x"]}, CONTEXT, where="test")


def test_params_are_typed() -> None:
    with pytest.raises(RecipeError, match="skip_consecutive_count"):
        build("TemplateDetectionProcessor", {"skip_consecutive_count": "often"}, CONTEXT, where="t")
