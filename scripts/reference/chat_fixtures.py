"""Chat templates rendered by transformers (its apply_chat_template: Jinja2 with trim_blocks and lstrip_blocks),
for pretrained.ChatTemplate: SmolLM2's own template from its GGUF and three templates written here to exercise
the supported subset (LLaMA-3-like with set, trim, white-space control and bos_token; a Qwen-like one with `is
defined`, `in` and elif; one whose raise_exception fires). Writes pretrained/testdata/chat/cases.json.

    PYTHON scripts/reference/chat_fixtures.py SmolLM2-135M-Instruct.Q4_1.gguf pretrained/testdata/chat/cases.json
"""
import json
import os
import sys

import transformers

LLAMA3_LIKE = """{{- bos_token }}
{%- set first = messages[0] %}
{%- if first['role'] == 'system' %}
    {%- set system = first['content'] | trim %}
{%- else %}
    {%- set system = "You answer briefly." %}
{%- endif %}
{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system + '<|eot_id|>' }}
{%- for message in messages %}
    {%- if not (loop.first and message.role == 'system') %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN_LIKE = """{% for message in messages %}
{% if loop.first and messages[0]['role'] != 'system' %}<|im_start|>system
You are a helpful assistant.<|im_end|>
{% endif %}
{% if message['role'] in ['user', 'system'] %}<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% elif message.role == 'assistant' and message.content is defined %}<|im_start|>assistant
{{ message.content ~ '' }}<|im_end|>
{% else %}{{ raise_exception('unknown role ' + message['role']) }}{% endif %}
{% endfor %}
{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

STRICT = """{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}[{{ loop.index }}/{{ messages | length }} {{ m.role }}] {{ m.content }}{% if not loop.last %}
{% endif %}{% endfor %}"""

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "  Be terse.  "}, {"role": "user", "content": "Review: a moving film.\nAnswer:"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Tell me a joke, ça va?"}],
]


def main():
    gguf, out = sys.argv[1], sys.argv[2]
    tok = transformers.AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf))
    smol = tok.chat_template
    cases = []
    for name, tmpl in [("smollm2", smol), ("llama3-like", LLAMA3_LIKE), ("qwen-like", QWEN_LIKE), ("strict", STRICT)]:
        for conv in CONVERSATIONS:
            for gen in (False, True):
                case = {"template": name, "messages": conv, "add_generation_prompt": gen}
                try:
                    case["text"] = tok.apply_chat_template(conv, chat_template=tmpl, tokenize=False, add_generation_prompt=gen)
                except Exception as e:  # noqa: BLE001 — the template's own raise_exception
                    case["error"] = str(e)
                cases.append(case)
    json.dump({"transformers": transformers.__version__, "bos_token": tok.bos_token, "eos_token": tok.eos_token,
               "templates": {"smollm2": smol, "llama3-like": LLAMA3_LIKE, "qwen-like": QWEN_LIKE, "strict": STRICT},
               "cases": cases}, open(out, "w"), indent=1, ensure_ascii=False)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
