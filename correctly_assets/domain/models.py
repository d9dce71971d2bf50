"""Records passed between the pipeline's stages.

Plain pydantic models: no Dagster import, so every stage is testable alone and the
same records are what the assets pickle, what the store writes and what tests build.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScriptType(_Record):
    name: str
    description: str


class Speaker(_Record):
    name: str
    description: str


class Style(_Record):
    name: str
    description: str


class Theme(_Record):
    name: str  # a partition key: lower-case letters, digits and "_"
    title: str
    description: str


class KeyExpression(_Record):
    theme: str
    expression: str
    meaning: str


class InstructionPrompt(_Record):
    name: str
    script_type: str
    template: str  # str.format template; placeholders listed in prompts.PLACEHOLDERS


class ExampleSentence(_Record):
    """A clean, native-like passage for a theme, with its Korean translation."""

    theme: str
    text: str
    korean: str


class Workbook(_Record):
    """Everything the workbook holds, validated."""

    script_types: tuple[ScriptType, ...]
    speakers: tuple[Speaker, ...]
    styles: tuple[Style, ...]
    themes: tuple[Theme, ...]
    key_expressions: tuple[KeyExpression, ...]
    instruction_prompts: tuple[InstructionPrompt, ...]
    examples: tuple[ExampleSentence, ...]
    # Read as data all the same, but easy to miss in Excel: reported, not refused.
    hidden_sheets: tuple[str, ...] = ()
    # Sheets outside the layout: not read.
    ignored_sheets: tuple[str, ...] = ()

    @property
    def theme_names(self) -> list[str]:
        return [t.name for t in self.themes]


class ThemeSpec(_Record):
    """The YAML spec for one theme: what prompts for that theme are built from."""

    theme: Theme
    script_types: tuple[ScriptType, ...]
    speakers: tuple[Speaker, ...]
    styles: tuple[Style, ...]
    key_expressions: tuple[KeyExpression, ...] = Field(min_length=1)
    instruction_prompts: tuple[InstructionPrompt, ...] = Field(min_length=1)
    examples: tuple[ExampleSentence, ...] = Field(min_length=1)


class PromptExample(_Record):
    """One rendered instruction prompt for a (date, theme) partition."""

    prompt_id: str  # stable: "<date>|<theme>|<index>"
    date: str
    theme: str
    index: int
    instruction_prompt: str
    script_type: str
    speaker: str
    style: str
    key_expression: str
    passage: str  # the clean passage the prompt asks the model to rewrite with errors
    passage_korean: str
    prompt: str  # the full text sent to the model
    # This prompt's sampling temperature and answer token limit (the original's creativity
    # and length rows); None: the text generator's own setting.
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    # The system message (the original's system_prompt row); None: the text generator's own.
    system_prompt: str | None = None
    # The original's workbooks only: the example the first LLM stage wrote, which `prompt`
    # carries as its one-shot; the reason it could not be used (then `prompt` is the one
    # that wrote it, and no answer is asked for); the grid ids it was written for.
    example: str | None = None
    example_rejection: str | None = None
    combination: dict[str, int | None] | None = None


class Edit(_Record):
    """One span of the learner's text and what it became ("so much" -> "so much" is a
    span the answer explains but leaves as it is)."""

    before: str
    after: str


class CorrectionPoint(_Record):
    """A numbered point of an answer: an optional label ("시제 일치"), the edits it names
    (none for a general remark such as "전반적인 흐름 개선") and its explanation."""

    number: int
    label: str = ""
    edits: tuple[Edit, ...] = ()
    explanation: str

    @model_validator(mode="before")
    @classmethod
    def _single_edit(cls, data: Any) -> Any:
        # Points stored before labels and several edits per point: {"before", "after"}.
        if isinstance(data, dict) and "before" in data and "edits" not in data:
            data = dict(data)
            data["edits"] = ({"before": data.pop("before"), "after": data.pop("after", "")},)
        return data


class ParsedAnswer(_Record):
    before: str
    after: str
    translation: str
    points: tuple[CorrectionPoint, ...]


class GeneratedText(_Record):
    """A model's answer to one prompt; rejected answers are kept with their reason."""

    prompt_id: str
    date: str
    theme: str
    raw_answer: str
    model: str
    parsed: ParsedAnswer | None = None
    rejection_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def accepted(self) -> bool:
        return self.parsed is not None


class TrainExample(_Record):
    """One chat-format example of the train or validation split."""

    prompt_id: str
    date: str
    theme: str
    split: str  # "train" or "validation"
    group: str  # near-duplicate group; a group never straddles the split
    messages: tuple[dict[str, str], ...]


class PreferencePair(_Record):
    """A train row's answer (chosen) and a worse answer to the same chat (rejected)."""

    prompt_id: str  # the train row's
    date: str
    theme: str
    split: str  # the train row's side: held-out pairs come from validation rows
    prompt: tuple[dict[str, str], ...]  # the system and user turns
    chosen: str
    rejected: str
    source: str  # on_policy, llm_judged or rule (domain.preferences.SOURCES)
    detail: str = ""  # the scores, the verdict or the rule that made it

    def as_trl(self) -> dict[str, list[dict[str, str]]]:
        """TRL's conversational preference format."""
        return {"prompt": list(self.prompt),
                "chosen": [{"role": "assistant", "content": self.chosen}],
                "rejected": [{"role": "assistant", "content": self.rejected}]}
