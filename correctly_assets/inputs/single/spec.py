"""The single workbook's per-theme spec: its shared tables with the theme's own rows."""

from __future__ import annotations

from ...domain.models import ThemeSpec, Workbook


def build_theme_specs(workbook: Workbook) -> dict[str, ThemeSpec]:
    """One spec per theme, in workbook order.

    Script types, speakers, styles and instruction prompts are shared by every theme;
    key expressions and examples belong to their theme.
    """
    return {
        theme.name: ThemeSpec(
            theme=theme,
            script_types=workbook.script_types,
            speakers=workbook.speakers,
            styles=workbook.styles,
            key_expressions=tuple(k for k in workbook.key_expressions if k.theme == theme.name),
            instruction_prompts=workbook.instruction_prompts,
            examples=tuple(e for e in workbook.examples if e.theme == theme.name),
        )
        for theme in workbook.themes
    }
