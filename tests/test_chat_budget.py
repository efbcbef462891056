"""Hostile chat templates (server-side template injection and resource exhaustion): each is
refused with a ChatTemplateError well inside its budget, and the process renders normally after.

The time bound asserted (REFUSED_WITHIN) is generous for a loaded CI machine: an unguarded
payload runs for minutes to hours or exhausts memory, so the bound still separates the cases."""
from __future__ import annotations

import resource
import time

import pytest

from pyggml.chat import CHATML_TEMPLATE, ChatFormatter, ChatTemplateError
from pyggml.template_sandbox import RENDER_SECONDS

REFUSED_WITHIN = 10 * RENDER_SECONDS

PAYLOADS = {
    # attribute walks to module globals / os
    "cycler globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner globals": "{{ joiner.__init__.__globals__['os'].system('id') }}",
    "namespace globals": "{{ namespace.__init__.__globals__ }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "template reference context": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "subclasses walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "format attribute walk": "{{ '{0.__class__.__init__.__globals__}'.format(cycler) }}",
    "own function globals": "{{ raise_exception.__globals__['json'] }}",
    "loop internals": "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    # cycler / joiner used to build unbounded output
    "cycler output": "{% set c = cycler('x' * 60000, 'y') %}{% for i in range(100000) %}{{ c.next() }}{% endfor %}",
    "joiner output": "{% set j = joiner('x' * 60000) %}{% for i in range(100000) %}{{ j() }}{% endfor %}",
    # loops
    "range 10**9": "{% for i in range(10**9) %}{% endfor %}",
    "nested ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested loops, no calls": "{% set s = 'a' * 60000 %}{% for x in s %}{% for y in s %}{% endfor %}{% endfor %}",
    "nested loops with a test": "{% for i in range(99999) %}{% for j in range(99999) %}"
                                  "{% if j == -1 %}x{% endif %}{% endfor %}{% endfor %}",
    # recursion
    "recursive macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "recursive loop": "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "wide recursive macro": "{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
    # huge strings, lists and numbers
    "string times 10**10": "{{ 'a' * 10**10 }}",
    "repetition of a repetition": "{{ ('a' * 60000) * 60000 }}",
    "doubling with ~": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "doubling with +": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "list doubling": "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "center method": "{{ 'x'.center(10**9) }}",
    "center filter": "{{ 'x' | center(10**9) }}",
    "percent width": "{{ '%0999999999d' % 1 }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "format width argument": "{{ '{0:>{1}}'.format(1, 999999999) }}",
    "format filter width": "{{ '%*d' | format(999999999, 1) }}",
    "replace empty": "{{ ('ab' * 30000) | replace('', 'x' * 60000) }}",
    "replace method": "{{ ('ab' * 30000).replace('a', 'x' * 60000) }}",
    "expandtabs": "{{ ('\\t' * 60000).expandtabs(60000) }}",
    "indent filter": "{{ ('\\n' * 60000) | indent(60000) }}",
    "join filter": "{{ (['x'] * 60000) | join('y' * 60000) }}",
    "join method": "{{ ('y' * 60000).join(['x'] * 60000) }}",
    "big power": "{{ 2 ** 1024 ** 1024 }}",
    "big int squaring": "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}",
    "tojson indent": "{{ range(60000) | list | tojson(indent=10**6) }}",
    "batch fill": "{{ [1] | batch(10**9, 'x') | list }}",
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_hostile_template_is_refused_quickly(name):
    formatter = ChatFormatter(PAYLOADS[name])
    t0 = time.perf_counter()
    with pytest.raises(ChatTemplateError) as info:
        formatter.render([{"role": "user", "content": "hi"}])
    elapsed = time.perf_counter() - t0
    assert elapsed < REFUSED_WITHIN, f"{name}: refused after {elapsed:.2f} s"
    assert str(info.value)


def test_process_is_unharmed_after_the_payloads():
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for template in PAYLOADS.values():
        with pytest.raises(ChatTemplateError):
            ChatFormatter(template).render([{"role": "user", "content": "hi"}])
    peak_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert peak_growth_mib < 256, f"peak RSS grew by {peak_growth_mib:.0f} MiB"
    text = ChatFormatter(CHATML_TEMPLATE).render([{"role": "user", "content": "hi"}])
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_budget_is_per_render_and_legitimate_loops_pass():
    # 2,000 messages: a large but honest render (~20 ms) stays well inside the budget
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(2000)]
    text = ChatFormatter(CHATML_TEMPLATE).render(messages)
    assert text.count("<|im_start|>") == 2001


def test_template_source_over_the_limit_is_refused():
    with pytest.raises(ChatTemplateError, match="over the limit"):
        ChatFormatter("x" * (1 << 19))
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatFormatter("{% if 1 %}" * 3000 + "x" + "{% endif %}" * 3000)
