"""pyggml.chat: the real models' chat templates, HF template helpers, the sandbox's refusals."""
import pytest

from pyggml.chat import CHATML_TEMPLATE, MAX_OUTPUT_CHARS, ChatFormatter, ChatTemplateError
from pyggml.gguf import GGUFReader

SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

# A Gemma-style template (written for this test) using the HF helpers templates rely on.
GEMMA_STYLE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['user', 'assistant', 'system'] %}"
    "{{ raise_exception('Conversation roles must be user, assistant or system') }}"
    "{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def smollm_metadata(model_path):
    with GGUFReader(model_path("smollm2-135m-q4_1")) as reader:
        return reader.metadata


@pytest.fixture(scope="module")
def gemma_metadata(model_path):
    with GGUFReader(model_path("gemma3-270m-q4_k_m")) as reader:
        return reader.metadata


def user(text):
    return {"role": "user", "content": text}


def test_smollm_template_adds_its_default_system_message(smollm_metadata):
    chat = ChatFormatter.from_metadata(smollm_metadata)
    assert not chat.is_fallback
    assert chat.render([user("Say hi")]) == (
        f"<|im_start|>system\n{SMOLLM_SYSTEM}<|im_end|>\n"
        "<|im_start|>user\nSay hi<|im_end|>\n"
        "<|im_start|>assistant\n")


def test_smollm_template_multi_turn_with_system_and_no_generation_prompt(smollm_metadata):
    chat = ChatFormatter.from_metadata(smollm_metadata)
    messages = [{"role": "system", "content": "Be brief."}, user("2+2?"),
                {"role": "assistant", "content": "4"}, user("and 3+3?")]
    assert chat.render(messages, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nand 3+3?<|im_end|>\n")


def test_smollm_special_texts_come_from_the_vocabulary(smollm_metadata):
    chat = ChatFormatter.from_metadata(smollm_metadata)
    tokens = smollm_metadata["tokenizer.ggml.tokens"]
    assert chat.bos_token == tokens[smollm_metadata["tokenizer.ggml.bos_token_id"]]
    assert chat.eos_token == tokens[smollm_metadata["tokenizer.ggml.eos_token_id"]]


def test_gemma_file_has_no_template_so_chatml_is_used(gemma_metadata):
    assert "tokenizer.chat_template" not in gemma_metadata
    chat = ChatFormatter.from_metadata(gemma_metadata)
    assert chat.is_fallback and chat.source == CHATML_TEMPLATE
    assert (chat.bos_token, chat.eos_token) == ("<bos>", "<eos>")
    assert chat.render([user("x")]) == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"


def test_gemma_style_template_with_bos_roles_and_trim():
    chat = ChatFormatter(GEMMA_STYLE, bos_token="<bos>", eos_token="<eos>")
    messages = [user("  Hello "), {"role": "assistant", "content": "Hi!"}, user("Bye")]
    assert chat.render(messages) == (
        "<bos><start_of_turn>user\nHello<end_of_turn>\n"
        "<start_of_turn>model\nHi!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n")


def test_raise_exception_becomes_a_chat_template_error():
    chat = ChatFormatter(GEMMA_STYLE)
    with pytest.raises(ChatTemplateError, match="roles must be user, assistant or system"):
        chat.render([{"role": "tool", "content": "x"}])


def test_helpers_strftime_now_tojson_and_loop_controls():
    chat = ChatFormatter("{{ strftime_now('%Y') | length }}|{{ {'k': 'é<'} | tojson }}|"
                         "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.content }}{% endfor %}")
    assert chat.render([user("a"), user("b")]) == '4|{"k": "é<"}|a'


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    "{{ messages[0].__class__.__init__.__globals__ }}",
    "{{ messages.append({'role': 'user', 'content': 'injected'}) }}",
    "{% set d = messages[0] %}{{ d.update({'content': 'changed'}) }}",
    "{{ messages[0].content.__class__.__base__.__subclasses__() }}",
])
def test_sandbox_refuses_attribute_tricks_and_mutation(template):
    messages = [user("hello")]
    with pytest.raises(ChatTemplateError, match="unsafe"):
        ChatFormatter(template).render(messages)
    assert messages == [user("hello")]


@pytest.mark.parametrize("template", ["[{{ raise_exception.__globals__ }}]",
                                      "[{{ '{0.__class__}'.format(messages) }}]"])
def test_sandbox_refuses_function_internals(template):
    with pytest.raises(ChatTemplateError, match="unsafe"):
        ChatFormatter(template).render([user("x")])


@pytest.mark.parametrize("template, message", [
    ("{{ 'a' * 10**10 }}", "unsafe"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}0123456789{% endfor %}{% endfor %}",
     str(MAX_OUTPUT_CHARS)),
    ("{{ range(10**9) | list }}", "over the limit"),
    ("{% include '/etc/passwd' %}", "loader"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
])
def test_resource_and_runtime_failures_are_chat_template_errors(template, message):
    with pytest.raises(ChatTemplateError, match=message):
        ChatFormatter(template).render([user("x")])


def test_template_that_does_not_compile_is_reported():
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatFormatter("{% for m in messages %}")


@pytest.mark.parametrize("messages, message", [
    ([], "empty"),
    ("hello", "list"),
    ([("user", "hi")], "not a dict"),
    ([{"content": "hi"}], "role"),
    ([{"role": "user", "content": 5}], "content"),
])
def test_malformed_messages_are_named(messages, message):
    with pytest.raises(ChatTemplateError, match=message):
        ChatFormatter(None).render(messages)
