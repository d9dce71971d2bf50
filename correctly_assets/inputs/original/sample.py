"""A small pair of workbooks in the original Correctly's latest layout, with a grid, to try
the original's two LLM stages on (`CORRECTLY_WORKBOOK=correctly_assets/data/original`).

The text is this project's own; the layout (sheets, columns, numeric ids, the generation
prompt's placeholders and sections) is the original's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from .grid import GRID_FILE
from .workbooks import CORRECTION_SCRIPT, TEXT_REPOSITORY
from ..single.sample import write_workbook

ORIGINAL_SAMPLE_PATH = Path(__file__).resolve().parents[2] / "data" / "original"

GENERATION_PROMPT = """\
##### 목적 #####
아래 조건에 맞는 영어 교정 자료를 한 편 작성하세요.

##### 작성 형태 #####
형식: {form_form}
설명: {form_description}

##### 작성 스타일 #####
작성자: {speaker_speaker}
어조: {mapping_emotion_form_tone}

##### 예시 #####
{example_example}

##### 특이 사항 #####
필수 표현: {key_expression_key_expression}
주제: {theme_theme}
스타일: {style_style}
기타 지침: {etc}"""

STYLE = """\
## 답변 조건 ##
1) 교정 전: 한국인 학습자가 쓴 것 같은, 실수가 있는 영어 글을 다섯 문장 이내로 쓰고 한국어를 한두 군데 섞을 것.
2) 교정 후: 원어민이 쓴 것처럼 자연스럽게 고친 글.
3) 해석: 고친 글의 한국어 번역.
4) 교정 지점: 고친 곳마다 번호를 붙여 "틀린 표현" → "고친 표현": 이유 를 한국어로 쓸 것.

## 답변 형태 ##
### 교정 전 ###
{어색한 영어 문장}
#####
### 교정 후 ###
{교정된 영어 문장}

### 해석 ###
{교정된 문장의 한국어 해석}

### 교정 지점 ###
{교정 내용과 교정 이유}"""


def text_repository_sheets() -> dict[str, list[list]]:
    return {
        "form": [["id", "form", "description", "speaker_num"],
                 [1, "일기", "하루의 일을 돌아보며 쓴 글", 1],
                 [2, "대화문", "두 사람이 주고받는 대화", 2],
                 [3, "설명문", "어떤 사실을 차례대로 설명하는 글", 0]],
        "emotion": [["id", "emotion"], [1, "긍정"], [2, "중립"], [3, "부정"]],
        "mapping_emotion_form": [
            ["id", "emotion_id", "form_id", "tone"],
            [1, 1, 1, "들뜨고 밝은 어조로 좋았던 일을 적습니다."],
            [2, 2, 1, "담담한 어조로 있었던 일을 적습니다."],
            [3, 3, 1, "아쉬워하는 어조로 힘들었던 일을 적습니다."],
            [4, 1, 2, "반갑고 다정한 말투로 이야기를 나눕니다."],
            [5, 2, 2, "차분한 말투로 정보를 주고받습니다."],
            [6, 3, 2, "걱정스러운 말투로 고민을 털어놓습니다."],
            [7, 2, 3, "객관적이고 또렷한 어조로 설명합니다."],
        ],
        "system_prompt": [["id", "prompt"],
                          [1, "당신은 한국인 학습자를 위한 영어 교정 자료를 쓰는 작가입니다. "
                              "요청한 형식과 어조를 지키고, 요청한 절만 씁니다."]],
        "generation_prompt": [["id", "prompt"], [1, GENERATION_PROMPT]],
        "creativity": [["id", "degree", "description"],
                       [1, 0.1, "교과서적인"], [2, 0.4, "평범한"], [3, 0.7, "균형 잡힌"],
                       [4, 1.0, "창의적인"], [5, 1.3, "독창적인"]],
        "length": [["id", "length"], [1, 150], [2, 300], [3, 600]],
    }


def correction_script_sheets() -> dict[str, list[list]]:
    return {
        "correction_script_type": [["id", "type"], [1, "영어 문장 교정"]],
        "speaker": [["id", "speaker"], [1, "한국인 학생의 영어를 고쳐 주는 영어 선생님"]],
        "style": [["id", "style"], [1, STYLE]],
        "theme": [["id", "theme"], [1, "주말에 있었던 일을 일기처럼"],
                  [2, "여행 계획을 친구와 상의하듯이"], [3, "건강한 습관을 소개하는 설명문"]],
        "key_expression": [["id", "key_expression"], [1, "look forward to"], [2, "end up"]],
        "instruction_prompt": [["id", "type_id", "prompt"],
                               [1, 1, "당신은 영어 선생님입니다. 다음 글을 원어민이 쓴 것처럼 "
                                      "자연스럽게 고쳐 주세요."]],
        # the original's output sheets, header only, as its copies ship them
        "example": [["id", "creativity_id", "length_id", "system_prompt_id", "generation_prompt_id",
                     "form_id", "mapping_emotion_form_id", "style_id", "key_expression_id",
                     "theme_id", "speaker_id", "example", "etc", "created_at", "modified_at"]],
        "generated_text": [["id", "creativity_id", "length_id", "example_id", "generated_text",
                            "etc", "created_at", "modified_at"]],
        "train": [["id", "instruction_prompt_id", "input", "output", "rejected",
                   "generated_text_id", "created_at", "modified_at", "etc"]],
    }


# 2 creativities x 2 lengths x 6 form-tone pairs (forms 1 and 2, three tones each) = 24
# examples per partition; the other 2 x 2 x 12 pairs of a form with another form's tone are
# left out.
GRID = {
    "iteration_num": {"type": "generation_param", "value": 1},
    "creativity_id": {"type": "necessary_column", "value": [2, 3]},
    "length_id": {"type": "necessary_column", "value": "2~3"},
    "system_prompt_id": {"type": "necessary_column", "value": [1]},
    "generation_prompt_id": {"type": "necessary_column", "value": [1]},
    "form_id": {"type": "necessary_column", "value": [1, 2]},
    "mapping_emotion_form_id": {"type": "necessary_column", "value": "1~6"},
    "speaker_id": {"type": "necessary_column", "value": [1]},
    "style_id": {"type": "necessary_column", "value": [1]},
    "key_expression_id": {"type": "optional_column", "value": []},
}


def build_original_sample(directory: str | Path = ORIGINAL_SAMPLE_PATH) -> Path:
    """Write the two workbooks and grid.yaml into `directory`."""
    directory = Path(directory)
    write_workbook(directory / TEXT_REPOSITORY, text_repository_sheets())
    write_workbook(directory / CORRECTION_SCRIPT, correction_script_sheets())
    (directory / GRID_FILE).write_text(
        yaml.safe_dump(GRID, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the original-layout sample.")
    parser.add_argument("directory", nargs="?", default=str(ORIGINAL_SAMPLE_PATH),
                        help=f"where to write it (default: {ORIGINAL_SAMPLE_PATH})")
    print(f"wrote {build_original_sample(parser.parse_args().directory)}")


if __name__ == "__main__":
    main()
