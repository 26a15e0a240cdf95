"""A chat template that opens the thinking at the end of the prompt, as DeepSeek R1's original
does (the fixtures' R1 template closes it unless ``enable_thinking`` is set)."""

OPENING_THINKING_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|><think>\\n' }}{% endif %}"
)
