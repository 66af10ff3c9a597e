"""English: every string of the web UI, and the templates of the task layer's own messages.

Keys are shared with `zh.py` (tests/test_locales.py checks both have the same keys and the same
`{placeholders}`). Keys without placeholders are handed to gradio's `gr.I18n` (the browser
translates them); keys with placeholders are formatted in Python (`locales.message`).
The `task.*` keys are the English lines the task layer writes (tasks/ stays English): `translate`
reads such a line back with its template and writes it with the other language's.
"""

from __future__ import annotations

from ..config import SETTINGS
from ..prompts import PRESETS

MESSAGES: dict[str, str] = (
    {
        # header and page
        "header.model": "Model **{model}** ({kind}) on **{device}** · context window {window} tokens",
        "header.chat_model": "chat model",
        "header.base_model": "base model",
        "header.switch": "中文",
        "shortcuts.help": (
            "Shortcuts: **Ctrl+Enter** Generate · **Ctrl+Shift+Enter** Continue · **Esc** Stop · "
            "**Ctrl+Z** / **Ctrl+Y** Undo / Redo (outside text fields)"
        ),
        "tab.story": "Story continuation",
        "tab.article": "Topic → Article",
        "tab.fewshot": "Few-shot style",
        "hint.base_model": (
            "**Tip:** {model} is a base model: it continues text rather than following instructions, so "
            "outlines and rewrites may wander. An instruct model does this well, e.g. "
            "`python app.py --model Qwen/Qwen2.5-0.5B-Instruct`."
        ),
        "examples": "Examples",
        # story tab
        "story.column": "Story",
        "story.story": "Story (generation continues it here; edit anywhere)",
        "story.story_placeholder": "Once upon a time…",
        "story.memory": "Memory",
        "story.memory_placeholder": "Characters, places, facts",
        "story.style": "Style notes",
        "story.style_placeholder": "e.g. gentle",
        # article tab
        "article.topic": "Topic",
        "article.topic_placeholder": "What should the article be about?",
        "article.keywords": "Keywords",
        "article.keywords_placeholder": "comma-separated",
        "article.audience": "Audience",
        "article.audience_placeholder": "e.g. beginners",
        "article.tone": "Tone",
        "article.tone_placeholder": "e.g. friendly",
        "article.length": "Target length (words)",
        "article.length_info": (
            "Sets each section's length: words ÷ sections, at about {ratio} tokens per word for this "
            "model (Max new tokens applies to the outline and Continue)."
        ),
        "article.outline": "Outline (editable: one section heading per line)",
        "article.outline_placeholder": (
            "Click “Draft outline” to plan the sections from the topic, or write your own."
        ),
        "article.outline_button": "Draft outline",
        "article.steps": "Step 1: draft or write the outline.\nStep 2: **Write article**.",
        "article.article": "Article (editable Markdown)",
        "article.write": "Write article",
        # few-shot tab
        "fewshot.preset": "Preset",
        "fewshot.preset_info": "Fills the instruction and examples.",
        "fewshot.instruction": "Instruction",
        "fewshot.example_input": "Example input",
        "fewshot.example_output": "Example output",
        "fewshot.examples": "Examples (up to {count}; empty rows are ignored)",
        "fewshot.new_input": "New input",
        "fewshot.new_input_placeholder": "The text to apply the pattern to",
        "fewshot.one_line": "Stop at end of line",
        "fewshot.one_line_info": "For one-line outputs such as headlines.",
        "fewshot.keep_words": "Keep the input's words",
        "fewshot.keep_words_info": "For rewrites on small base models: they copy the input and edit it.",
        "fewshot.output": "Output (the document: editable)",
        # the desk: buttons, status, drafts
        "button.generate": "Generate",
        "button.continue": "Continue",
        "button.regenerate": "Regenerate",
        "button.stop": "Stop",
        "button.undo": "Undo",
        "button.redo": "Redo",
        "button.accept": "Accept",
        "button.reject": "Reject",
        "button.new": "New document",
        "button.save": "Save (.md)",
        "button.open": "Open (.md/.txt)",
        "button.use_draft": "Use this one",
        "desk.saved_file": "Saved file",
        "desk.draft": "Draft {number}",
        "desk.saved": "✓ Saved in this browser",
        "desk.saved_words": "✓ Saved in this browser · {words} words",
        "desk.confirm_new": (
            "Start a new document? This clears the text and notes of this tab (Undo brings them back)."
        ),
        "status.ready": "Ready.",
        "status.starting": "Starting…",
        "status.done": "Done.",
        "status.span": (
            "Last generation: {words} words — Regenerate replaces it, Accept keeps it, Reject removes it."
        ),
        "status.accepted": "Accepted.",
        "status.stopped": "finish: stopped (you pressed Stop)",
        "status.nothing_to_regenerate": (
            "Nothing to regenerate: the last generation was accepted or edited (or none yet)."
        ),
        "status.nothing_to_reject": "Nothing to reject: the last generation was accepted or edited.",
        "status.nothing_to_undo": "Nothing to undo.",
        "status.nothing_to_redo": "Nothing to redo.",
        "status.undo": "Undo: {undos} step(s) to undo, {redos} to redo.",
        "status.redo": "Redo: {undos} step(s) to undo, {redos} to redo.",
        "status.open_failed": "Could not open the file: {error}",
        "status.opened": "Opened a file ({words} words). Undo goes back.",
        "status.new_document": "New document. Undo brings the old one back.",
        "error.unexpected": (
            "Something went wrong on the server (its log has the details). Your text was kept."
        ),
        # settings panel
        "settings.title": "Generation settings",
        "settings.more": "More settings",
        "settings.reset": "Reset to defaults",
        "settings.max_new_tokens_limit": (
            "At most {limit} on this model (its window, less room for the prompt)."
        ),
        "settings.typed_value": "⚠ {problem}; it is set to {value}.",
        "settings.too_high": "{name} must be at most {limit} on this model (got {value})",
        # alternatives panel
        "alt.title": "Alternatives: the model's next words at a point",
        "alt.position": "Position (select text in the document; -1 = the end)",
        "alt.k": "How many",
        "alt.show": "Show alternatives",
        "alt.choices": "Next token — probability",
        "alt.at_end": "the end",
        "alt.at_char": "character {position}",
        "alt.status": "Top {count} next tokens at {where} (together {total}). Pick one to branch.",
        # counters
        "counts.line": "{words} words · {chars} characters · {tokens} tokens",
        "counts.prompt": "{counts} — prompt {used} + {new} to write, window {window} tokens",
        "counts.no_prompt": "{counts} — prompt: {problem}",
        # the task layer's English lines (read back by `translate`, never formatted by the UI)
        "task.writing": "Writing… {chars} characters so far",
        "task.tokens": "{count} tokens",
        "task.speed": "{speed} tok/s",
        "task.first_token": "first token {ms} ms",
        "task.prompt_tokens": "prompt {count} tokens",
        "task.finish": "finish: {reason}",
        "task.seed": "seed {seed}",
        "task.dropped": "the prompt was too long: its first {count} tokens were left out",
        "task.outline": "Outline",
        "task.heading": "Heading {index}/{total}",
        "task.file_too_big": "the file is {size} bytes; files up to {limit} bytes can be opened",
        "task.file_binary": "the file is not text (it holds binary data); open a .md or .txt file",
        "task.file_not_utf8": "the file is not UTF-8 text; save it as UTF-8 and open it again",
        "task.front_matter_line": "the front matter's line {line} is not 'name: value'",
        "task.front_matter_value": "the front matter's value of {name} is not a quoted string",
        "task.front_matter_open": "the front matter (between '---' lines) is never closed",
        "term.the model server": "the model server",
        "task.remote_where": "the model server at {url}",
        "task.remote_timeout": (
            "{where} sent nothing for {seconds} s (overloaded, or still loading the model?)"
        ),
        "task.remote_broke": "the connection to {where} broke mid-answer (server stopped or restarted?)",
        "task.remote_unreachable": "cannot reach {where} — is it running?",
        "task.remote_error": "{where} reported an error: {error}",
        "task.remote_failed": "request to {where} failed: {error}",
        "task.remote_key": "{where} refused the API key (HTTP {code}) — check --api-key-env",
        "task.remote_busy": "{where} is busy ({code}): {message}",
        "task.remote_http": "{where} answered HTTP {code}: {message}",
        "task.remote_no_reason": "{where} ended the answer without saying why (was it restarted?)",
        "task.remote_no_list": "{where} does not list its models; pass --model",
        "task.remote_refused_all": "{where} refused every form of the request",
        "task.remote_unknown_model": "{where} has no model {model}; it serves: {served}",
        "task.remote_no_logprobs": (
            "this model server does not offer next-token alternatives (it sends no logprobs)"
        ),
        "task.section": "Section {index}/{total} (up to {tokens} tokens)",
        "task.article_total": "Article: {sections} sections, {tokens} tokens in {seconds} s",
        "task.one_draft": "temperature 0 always writes the same text, so only one draft was written",
        "task.empty": "The {what} is empty: {hint}",
        "task.too_long": "The {name} is too long: {length} characters; the limit is {limit}",
        "task.not_text": "The {name} must be text (got {kind})",
        "task.prompt_too_long": (
            "The prompt is too long: {used} tokens, but the model allows {limit} here; {hint}"
        ),
        "task.setting_range": "{name} must be between {low} and {high} (got {value})",
        "task.setting_number": "{name} must be a number between {low} and {high} (got {value})",
        "task.setting_whole": "{name} must be a whole number between {low} and {high} (got {value})",
        "task.no_examples": "There are no examples: add at least one example with an input and an output.",
        "task.too_many_examples": "Use at most {limit} examples (got {count}): remove some.",
        "task.topic_empty": "The topic is empty: describe what the article should be about.",
        "task.outline_empty": "The outline is empty: click “Draft outline” or write one heading per line.",
        "task.outline_empty_write": "The outline is empty: write or generate at least one section heading.",
        "task.position": "The position must be -1 (the end) or 0 to {length} (got {cut}).",
        "task.hint_story": "write a few sentences for the model to continue.",
        "task.hint_new_input": "type the text the examples should be applied to.",
        # words the task layer puts into its lines (field names, finish reasons)
        "term.story": "story",
        "term.memory": "memory",
        "term.style": "style",
        "term.document": "document",
        "term.topic": "topic",
        "term.outline": "outline",
        "term.keywords": "keywords",
        "term.audience": "audience",
        "term.tone": "tone",
        "term.instruction": "instruction",
        "term.examples": "examples",
        "term.new input": "new input",
        "term.text": "text",
        "term.export": "export",
        "term.eos": "eos",
        "term.length": "length",
        "term.stopped": "stopped",
    }
    | {f"setting.{s.name}": s.label for s in SETTINGS}
    | {f"setting.{s.name}.help": s.help for s in SETTINGS}
    | {f"preset.{name}": name for name in PRESETS}
)
