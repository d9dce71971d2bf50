"""The page for people: a form that works without JavaScript (POST / answers with the page),
and with it streams the answer from /v1/corrections/stream, each section shown as soon as
the model has finished writing it. Every value is escaped; the script sets text only
(`textContent`), never markup."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .backends import MAX_TEXT_CHARS

if TYPE_CHECKING:
    from .app import CorrectionResponse, ModelOut

# Reads the event stream; a section ("### 교정 후 ###", ...) is shown once the next header
# starts, the one being written is shown as it comes, and `done` replaces both with the
# parsed correction.
STREAMING_SCRIPT = r"""
const form = document.querySelector("form"), out = document.getElementById("result");
const NAMES = {"교정 후": "Corrected", "해석": "해석", "교정 지점": "교정 지점"};
function el(tag, text, cls) { const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function sections(raw) {
  const parts = raw.split(/^###\s*(.+?)\s*###\s*$/m), found = [];
  if (parts.length === 1) { const i = raw.indexOf("Corrections:");
    return i < 0 ? [["Corrected", raw, false]] : [["Corrected", raw.slice(0, i), true],
                                                  ["Corrections", raw.slice(i + 12), false]]; }
  for (let i = 1; i < parts.length; i += 2)
    found.push([NAMES[parts[i]] || parts[i], parts[i + 1] || "", i + 2 < parts.length]);
  return found; }
function showRaw(raw) { out.replaceChildren();
  for (const [name, text, complete] of sections(raw)) {
    out.append(el("h2", name), el(complete ? "p" : "pre", text.trim(), complete ? "done" : "writing")); } }
function showDone(r) { out.replaceChildren();
  if (r.cut_off) out.append(el("p", "The answer reached its length limit and was cut off: its last points may be missing.", "cut-off"));
  out.append(el("h2", "교정 후"), el("p", r.corrected, "corrected"));
  if (r.translation) out.append(el("h2", "해석"), el("p", r.translation, "translation"));
  const list = el("ol", undefined, "points");
  for (const p of r.points) { const li = el("li");
    if (p.label) li.append(el("strong", p.label), ": ");
    for (const x of p.edits) li.append(el("del", x.before), " → ", el("ins", x.after), ": ");
    li.append(p.explanation); list.append(li); }
  if (!r.points.length) list.append(el("li", "No correction points."));
  out.append(el("h2", "교정 지점"), list); }
function showError(messages) { const list = el("ul", undefined, "errors");
  for (const m of messages) list.append(el("li", m)); out.replaceChildren(list); }
form.addEventListener("submit", async (event) => {
  if (!window.ReadableStream || !window.TextDecoderStream) return;  // the plain form posts
  event.preventDefault(); let raw = "", buffer = "";
  out.replaceChildren(el("p", "Writing…", "writing"));
  const response = await fetch("/v1/corrections/stream", {method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({text: form.elements.text.value})});
  if (!response.ok) { let detail = response.statusText;
    try { const body = await response.json();
      detail = Array.isArray(body.detail) ? body.detail.map(d => d.msg) : [body.detail]; }
    catch (e) { detail = [detail]; }
    return showError(detail); }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) { const {value, done} = await reader.read(); if (done) break; buffer += value;
    let end; while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const name = (block.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((block.match(/^data: (.*)$/m) || [, "{}"])[1]);
      if (name === "piece") { raw += data.text; showRaw(raw); }
      else if (name === "done") showDone(data);
      else if (name === "error") showError([data.detail]); } }
});
"""


def render_page(model: ModelOut, text: str = "", result: CorrectionResponse | None = None,
                errors: Sequence[str] = ()) -> str:
    """The form, and the correction or the errors below it; every value escaped."""
    e = html.escape
    parts = []
    if errors:
        parts.append('<ul class="errors">' + "".join(f"<li>{e(m)}</li>" for m in errors) + "</ul>")
    if result is not None:
        points = "".join(
            "<li>" + (f"<strong>{e(p.label)}</strong>: " if p.label else "")
            + "".join(f"<del>{e(x.before)}</del> &rarr; <ins>{e(x.after)}</ins>: "
                      for x in p.edits)
            + f"{e(p.explanation)}</li>"
            for p in result.points) or "<li>No correction points.</li>"
        translation = (f'<h2>해석</h2><p class="translation">{e(result.translation)}</p>'
                       if result.translation else "")
        cut_off = ('<p class="cut-off">The answer reached its length limit and was cut off: '
                   'its last points may be missing.</p>' if result.cut_off else "")
        parts.append(f'{cut_off}<h2>교정 후</h2><p class="corrected">{e(result.corrected)}</p>'
                     f'{translation}<h2>교정 지점</h2><ol class="points">{points}</ol>')
    return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8"><title>Correctly</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
textarea{{width:100%}} .errors{{color:#a00}} del{{color:#a00}} ins{{color:#060}}
pre.writing{{white-space:pre-wrap;color:#555;font-family:inherit}}
footer{{color:#666;font-size:.85em;margin-top:2rem}}</style></head>
<body><h1>Correctly</h1>
<form method="post" action="/" accept-charset="utf-8">
<label for="text">Your English text (at most {MAX_TEXT_CHARS:,} characters)</label>
<textarea id="text" name="text" rows="6" maxlength="{MAX_TEXT_CHARS}" required>{e(text)}</textarea>
<button type="submit">Correct</button></form>
<div id="result" aria-live="polite">{"".join(parts)}</div>
<footer>Model {e(model.name)} version {model.version} (alias {e(model.alias)}).
API: <a href="/docs">/docs</a></footer>
<script>{STREAMING_SCRIPT}</script></body></html>"""
