import pytest

from correctly_assets.domain.models import (
    ExampleSentence, InstructionPrompt, KeyExpression, ScriptType, Speaker, Style, Theme, ThemeSpec,
)
from correctly_assets.domain.prompt_format import (
    PLACEHOLDERS, extract_passage, render_template, template_fields, template_problem,
)
from correctly_assets.inputs.single.prompts import render_prompts

pytestmark = pytest.mark.unit

SPEC = ThemeSpec(
    theme=Theme(name="travel", title="Travel", description="trips and holidays"),
    script_types=(ScriptType(name="diary", description="a diary entry"),),
    speakers=(Speaker(name="Minji", description="a university student"),
              Speaker(name="Junho", description="an office worker")),
    styles=(Style(name="casual", description="relaxed"),),
    key_expressions=(KeyExpression(theme="travel", expression="check in", meaning="register at a hotel"),),
    instruction_prompts=(InstructionPrompt(
        name="diary_prompt", script_type="diary",
        template="You are {speaker}. Write {script_type} about {theme} using \"{key_expression}\"."),),
    examples=tuple(ExampleSentence(theme="travel", text=f"We took train number {i} to Busan.",
                                   korean=f"우리는 {i}번 기차를 타고 부산에 갔다.") for i in range(4)),
)


def test_batch_is_a_function_of_partition_only():
    first = render_prompts(SPEC, "2026-03-01", 4)
    assert first == render_prompts(SPEC, "2026-03-01", 4)
    assert first != render_prompts(SPEC, "2026-03-02", 4)
    assert [p.prompt_id for p in first] == [f"2026-03-01|travel|{i:04d}" for i in range(4)]


def test_no_passage_repeats_until_all_are_used():
    prompts = render_prompts(SPEC, "2026-03-01", 4)
    assert len({p.passage for p in prompts}) == 4


def test_prompt_carries_fields_and_passage():
    prompt = render_prompts(SPEC, "2026-03-01", 1)[0]
    assert "a diary entry" in prompt.prompt and "check in" in prompt.prompt
    assert "### 교정 지점 ###" in prompt.prompt  # the original's Korean answer format
    assert extract_passage(prompt.prompt) == (prompt.passage, prompt.passage_korean)
    assert template_fields(SPEC.instruction_prompts[0].template) == {
        "speaker", "script_type", "theme", "key_expression"}


@pytest.mark.adversarial
def test_templates_are_substituted_never_formatted():
    values = {name: "Minji" if name == "speaker" else "x" for name in PLACEHOLDERS}
    assert render_template("Hi {speaker}, {{literal}} braces.", values) == \
        "Hi Minji, {literal} braces."
    # A spec reaching the renderer (validation refuses it first) is not executed either.
    assert render_template("{speaker:>20000000}", values) == "Minji"
    assert template_problem("{speaker:>1000000000}").startswith("placeholder")


@pytest.mark.adversarial
def test_a_prompt_past_its_size_limit_is_refused_naming_its_template():
    """{theme_description} 1,724 times once stored six 55 MB prompts."""
    from correctly_assets.domain.prompt_format import MAX_PROMPT_CHARS, PromptTooLong

    spec = SPEC.model_copy(update={
        "theme": Theme(name="travel", title="Travel", description="d" * 32_000),
        "instruction_prompts": (InstructionPrompt(
            name="huge", script_type="diary", template="{theme_description} " * 1724),)})
    with pytest.raises(PromptTooLong, match=(
            rf"instruction prompt 'huge' \(sheet 'instruction_prompt'\): the rendered prompt "
            rf"would be [\d,]+ characters; the limit is {MAX_PROMPT_CHARS:,}")):
        render_prompts(spec, "2026-01-01", 6)
