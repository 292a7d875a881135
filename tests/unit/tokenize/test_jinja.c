/* Unit tests for src/tokenize/jinja_parse.c and jinja_eval.c: expressions, statements,
 * whitespace control, filters, tests, methods, errors and limits, with hand-computed outputs
 * (Jinja2's outputs for the same template and variables). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "tokenize/jinja.h"

/* Renders tmpl with vars (JSON text or NULL) and compares with want. */
static void expect_render(const char *tmpl, const char *vars, const char *want)
{
    char err[256];
    struct sy_jinja *t = sy_jinja_compile(tmpl, strlen(tmpl), err, sizeof(err));
    if (!t)
        fail_msg("compile \"%s\": %s", tmpl, err);
    cJSON *v = vars ? cJSON_Parse(vars) : NULL;
    if (vars && !v)
        fail_msg("bad test vars %s", vars);
    struct sy_buf out;
    sy_buf_init(&out);
    int rc = sy_jinja_render(t, v, &out, err, sizeof(err));
    if (rc)
        fail_msg("render \"%s\": %s", tmpl, err);
    const char *got = out.data ? out.data : "";
    if (strcmp(got, want) != 0)
        fail_msg("template \"%s\"\n  want \"%s\"\n  got  \"%s\"", tmpl, want, got);
    sy_buf_fini(&out);
    cJSON_Delete(v);
    sy_jinja_free(t);
}

/* Expects a compile error (render == false) or a render error containing needle. */
static void expect_error(const char *tmpl, const char *vars, const char *needle, int want_rc)
{
    char err[256] = "";
    struct sy_jinja *t = sy_jinja_compile(tmpl, strlen(tmpl), err, sizeof(err));
    if (t) {
        cJSON *v = vars ? cJSON_Parse(vars) : NULL;
        struct sy_buf out;
        sy_buf_init(&out);
        int rc = sy_jinja_render(t, v, &out, err, sizeof(err));
        sy_buf_fini(&out);
        cJSON_Delete(v);
        sy_jinja_free(t);
        if (rc != want_rc)
            fail_msg("template \"%s\": rc %d, want %d (%s)", tmpl, rc, want_rc, err);
    }
    if (!strstr(err, needle))
        fail_msg("template \"%s\": error \"%s\" lacks \"%s\"", tmpl, err, needle);
}

static void test_literals_and_arithmetic(void **state)
{
    expect_render("{{ 1 + 2 * 3 }}", NULL, "7");
    expect_render("{{ (1 + 2) * 3 }}", NULL, "9");
    expect_render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}", NULL, "3 -4 1 2");
    expect_render("{{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }}", NULL, "3.5 2.0 1024");
    expect_render("{{ 1.5 + 1 }} {{ -3 }} {{ - 2.5 }}", NULL, "2.5 -3 -2.5");
    expect_render("{{ 'a' + \"b\" ~ 1 ~ none ~ true }}", NULL, "ab1NoneTrue");
    expect_render("{{ 'x' * 3 }}", NULL, "xxx");
    /* repetition: an empty string or a count <= 0 is '' at once (a fuzzer's '' * 022222222222
     * looped 2e10 times); a result past the output limit fails before building anything */
    expect_render("{{ '' * 022222222222 }}|{{ 'ab' * -3 }}|{{ 0 * 'x' }}|", NULL, "|||");
    expect_render("{{ ('ab' * 3000000)|length }} {{ 3 * 'xy' }}", NULL, "6000000 xyxyxy");
    expect_render("{{ 'it\\'s\\n\\t\\u00e9\\x41' }}", NULL,
                  "it's\n\t\xc3\xa9"
                  "A");
    expect_render("{{ [1, 'a', [2]] }} {{ {'k': 'v', 'n': none} }}", NULL,
                  "[1, 'a', [2]] {'k': 'v', 'n': None}");
    expect_render("{{ 'a' 'b' }}", NULL, "ab");
    expect_render("{{ True }}{{ false }}{{ None }}{{ undefined_var }}|", NULL, "TrueFalseNone|");
}

static void test_comparisons_and_logic(void **state)
{
    expect_render("{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }}", NULL,
                  "True False True True False");
    expect_render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [3] }}",
                  NULL, "True True True False");
    expect_render("{{ x in y }}", NULL, "False"); /* anything in undefined */
    expect_render("{{ 0 or 'd' }} {{ 'a' and 'b' }} {{ '' and 'x' }}|{{ not 1 }} {{ not (0) }}",
                  NULL, "d b |False True");
    expect_render("{{ 'y' if 1 else 'n' }}{{ 'y' if 0 else 'n' }}{{ 'z' if 0 }}|", NULL, "yn|");
    expect_render("{{ [1] == [1] }} {{ {'a': 1} == {'a': 1} }} {{ [] == none }}", NULL,
                  "True True False");
}

static void test_members_indexing_slicing(void **state)
{
    const char *v = "{\"m\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"bot\"}],"
                    " \"s\": \"h\xc3\xa9llo\"}";
    expect_render("{{ m[0].role }} {{ m[0]['content'] }} {{ m[-1].role }} {{ m[5] }}|", v,
                  "user hi bot |");
    expect_render("{{ m[1].content is defined }} {{ m.0.role }}", v, "False user");
    expect_render("{{ s[1] }} {{ s[::-1] }} {{ s[1:3] }} {{ s[-2:] }} {{ s|length }}", v,
                  "\xc3\xa9 oll\xc3\xa9h \xc3\xa9l lo 5");
    expect_render("{% for x in [1,2,3,4,5][::2] %}{{ x }}{% endfor %} {{ [1,2,3][5:] }}"
                  " {{ [1,2,3][-5:1] }} {{ [1,2,3][::-1] }}",
                  NULL, "135 [] [1] [3, 2, 1]");
    /* code points of 1 to 4 bytes, every step direction (t = "a" E_ACUTE EURO GRIN "b") */
#define E_ACUTE "\xc3\xa9"
#define EURO    "\xe2\x82\xac"
#define GRIN    "\xf0\x9f\x98\x80"
    expect_render("{{ t[::-1] }}|{{ t[::2] }}|{{ t[1:4] }}|{{ t[::-2] }}|{{ t[-2::-1] }}|"
                  "{{ t[3:0:-1] }}|{{ t[4:] }}|{{ t[::3] }}|{{ t[-1:-9:-3] }}",
                  "{\"t\": \"a" E_ACUTE EURO GRIN "b\"}",
                  "b" GRIN EURO E_ACUTE "a|a" EURO "b|" E_ACUTE EURO GRIN "|b" EURO
                  "a|" GRIN EURO E_ACUTE "a|" GRIN EURO E_ACUTE "|b|a" GRIN "|b" E_ACUTE);
    /* bytes that are not UTF-8 (a stray continuation byte first, a cut sequence last): the
     * stray byte is code point 0, the cut sequence is dropped (|length counts lead bytes) */
    expect_render("{% set w = '\x80"
                  "a" E_ACUTE "\xc3' %}"
                  "{{ w|length }}|{{ w[::-1] }}|{{ w[1:] }}|{{ w[::2] }}|{{ w[-1:0:-1] }}",
                  NULL, "3|" E_ACUTE "a\x80|a" E_ACUTE "|\x80" E_ACUTE "|" E_ACUTE "a");
#undef E_ACUTE
#undef EURO
#undef GRIN
}

static void test_string_methods(void **state)
{
    expect_render("[{{ '\\n\\nab\\n'.strip('\\n') }}][{{ '  a '.strip() }}]"
                  "[{{ 'xxaxx'.lstrip('x') }}][{{ 'xxaxx'.rstrip('x') }}]",
                  NULL, "[ab][a][axx][xxa]");
    /* Python semantics: strip('\n') keeps spaces */
    expect_render("[{{ '\\n a \\n'.strip('\\n') }}]", NULL, "[ a ]");
    expect_render("{{ 'a</think>b</think>c'.split('</think>') }} {{ ' a  b '.split() }}", NULL,
                  "['a', 'b', 'c'] ['a', 'b']");
    expect_render("{{ 'a,b,c'.split(',', 1) }} {{ 'abc'.split('x')[-1] }}", NULL,
                  "['a', 'b,c'] abc");
    expect_render("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }}", NULL,
                  "True True");
    expect_render("{{ 'aXa'.replace('a', 'b') }} {{ 'Hi There'.upper() }} {{ 'Hi'.lower() }}", NULL,
                  "bXb HI THERE hi");
    expect_render("{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}", NULL,
                  "Hello World Hello");
    expect_render("{{ '-'.join(['a', 'b']) }} {{ 'abcb'.count('b') }} {{ 'abc'.find('c') }}", NULL,
                  "a-b 2 2");
    expect_render("{% set d = {'a': 1} %}{{ d.get('a') }} {{ d.get('z', 'dflt') }} "
                  "{{ d.get('z') }} {{ d.keys() }} {{ d.values() }}",
                  NULL, "1 dflt None ['a'] [1]");
}

static void test_filters(void **state)
{
    const char *v = "{\"tools\": [{\"name\": \"f\", \"args\": {\"x\": 1, \"y\": [true, null]}},"
                    " {\"name\": \"g\", \"skip\": true}], \"t\": \"  pad \\n\"}";
    expect_render("{{ tools|length }} {{ t|trim }}|{{ t|length }}", v, "2 pad|7");
    expect_render("{{ tools[0]|tojson }}", v,
                  "{\"name\": \"f\", \"args\": {\"x\": 1, \"y\": [true, null]}}");
    expect_render("{{ tools[0].args|tojson(indent=2) }}", v,
                  "{\n  \"x\": 1,\n  \"y\": [\n    true,\n    null\n  ]\n}");
    expect_render("{{ 'q\"\\\\\\n\xc3\xa9'|tojson }}", NULL, "\"q\\\"\\\\\\n\xc3\xa9\"");
    expect_render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 1.5|tojson }}", NULL,
                  "{\"a\": 2, \"b\": 1} 1.5");
    expect_render("{{ tools|map(attribute='name')|join(', ') }}", v, "f, g");
    expect_render("{{ tools|selectattr('skip')|map(attribute='name')|list }}"
                  " {{ tools|rejectattr('skip', 'defined')|map(attribute='name')|first }}",
                  v, "['g'] f");
    expect_render("{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ [1, 1, 2]|unique }}",
                  NULL, "[1, 2, 3] [3, 2, 1] [1, 2]");
    expect_render("{{ missing|default('d') }} {{ ''|default('d', true) }} {{ 0|default(5) }}", NULL,
                  "d d 0");
    expect_render("{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}={{ v }};{% endfor %}", NULL,
                  "a=1;b=2;");
    expect_render("{{ 'abc'|upper }} {{ 42|string }}{{ '7'|int + 1 }} {{ -3|abs }}"
                  " {{ [1, 2]|last }} {{ 'ab'|reverse }} {{ '<a>'|e }} {{ '1.5'|float }}",
                  NULL, "ABC 428 -3 2 ba &lt;a&gt; 1.5"); /* Jinja2: -(3|abs) */
    expect_render("{{ 'a\\nb'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}", NULL, "a\n  b|  a\n  b");
    expect_render("{{ ['a', 'b']|map('upper')|join }}", NULL, "AB");
}

static void test_tests(void **state)
{
    const char *v = "{\"n\": null, \"s\": \"x\", \"d\": {}, \"l\": [], \"i\": 3, \"f\": 1.5, "
                    "\"b\": false}";
    expect_render("{{ n is none }} {{ s is string }} {{ d is mapping }} {{ l is iterable }}"
                  " {{ i is number }} {{ f is integer }} {{ b is false }} {{ b is boolean }}",
                  v, "True True True True True False True True");
    expect_render("{{ zz is defined }} {{ zz is undefined }} {{ s is not none }}"
                  " {{ i is odd }} {{ i is even }} {{ i is divisibleby 3 }} {{ i is eq(3) }}",
                  v, "False True True True False True True");
    expect_render("{{ s is lower }} {{ 'X' is upper }} {{ s is in(['x']) }}", v, "True True True");
}

static void test_statements(void **state)
{
    expect_render("{% if 0 %}a{% elif 1 %}b{% else %}c{% endif %}", NULL, "b");
    expect_render("{% if 0 %}a{% elif 0 %}b{% else %}c{% endif %}", NULL, "c");
    expect_render("{% for x in ['a', 'b', 'c'] %}{{ loop.index0 }}{{ loop.index }}{{ x }}"
                  "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}"
                  "{{ loop.length }}{{ loop.revindex0 }};{% endfor %}",
                  NULL, "01aF32;12b31;23cL30;");
    expect_render("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    expect_render("{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}"
                  "{% endfor %}",
                  NULL, "1,3,5,7,9");
    expect_render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
                  "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
                  NULL, "013");
    expect_render("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", NULL, "37");
    expect_render("{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", NULL, "xy");
    expect_render("{% set x = 5 %}{% set a, b = 1, 2 %}{{ x }}{{ a }}{{ b }}", NULL, "512");
    expect_render("{% set ns = namespace(found=false, n=0) %}{% for i in range(3) %}"
                  "{% set ns.n = ns.n + i %}{% if i == 1 %}{% set ns.found = true %}{% endif %}"
                  "{% endfor %}{{ ns.found }} {{ ns.n }}",
                  NULL, "True 3");
    /* a plain set inside a loop does not leak out of it (Jinja2 scoping) */
    expect_render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", NULL, "1");
    expect_render("{% set blk %}a{{ 1 + 1 }}b{% endset %}[{{ blk }}]", NULL, "[a2b]");
    expect_render("{% macro greet(name, punct='!') %}hi {{ name }}{{ punct }}{% endmacro %}"
                  "{{ greet('bob') }} {{ greet('al', punct='?') }} {{ greet(name='x') }}",
                  NULL, "hi bob! hi al? hi x!");
    expect_render("{# a comment #}x{# another\nline #}y", NULL, "xy");
    expect_render("{% set l = [] %}{% set _ = l.append(1) %}{{ l }}", NULL, "[1]");
    expect_render("{% generation %}kept{% endgeneration %}", NULL, "kept");
}

static void test_whitespace_control(void **state)
{
    expect_render("a  {{- 'b' -}}  \n c", NULL, "abc");
    expect_render("a\n  {%- if 1 -%}\n  b\n{%- endif %}", NULL, "ab");
    /* trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before it */
    expect_render("{% if 1 %}\nx\n    {% endif %}\ny", NULL, "x\ny");
    expect_render("  {{ 'e' }}\n", NULL, "  e"); /* expressions keep indentation; the final
                                                    newline of the template is dropped */
    expect_render("a\n\n", NULL, "a\n");
    expect_render("{{ 'x' }}{# c -#}   y", NULL, "xy");
}

static void test_chat_template_shapes(void **state)
{
    /* the Llama 3.1 template from tokenizer_config.json, verbatim */
    const char *llama =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
        "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ "
        "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = "
        "bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt "
        "%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
    expect_render(llama,
                  "{\"messages\": [{\"role\": \"system\", \"content\": \" be nice \"}, "
                  "{\"role\": \"user\", \"content\": \"hi\"}], \"bos_token\": \"<B>\", "
                  "\"add_generation_prompt\": true}",
                  "<B><|start_header_id|>system<|end_header_id|>\n\nbe nice<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* Qwen3's reverse scan for the last user query */
    const char *qwen =
        "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
        "{%- for message in messages[::-1] %}\n"
        "    {%- set index = (messages|length - 1) - loop.index0 %}\n"
        "    {%- if ns.multi_step_tool and message.role == \"user\" and "
        "not(message.content.startswith('<tool_response>') and "
        "message.content.endswith('</tool_response>')) %}\n"
        "        {%- set ns.multi_step_tool = false %}\n"
        "        {%- set ns.last_query_index = index %}\n"
        "    {%- endif %}\n"
        "{%- endfor %}\n"
        "{{- ns.last_query_index }}\n";
    expect_render(qwen,
                  "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": "
                  "\"assistant\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": "
                  "\"<tool_response>r</tool_response>\"}]}",
                  "0");
}

static void test_errors(void **state)
{
    expect_error("{% if x %}", NULL, "line 1", 0);
    expect_error("a\n{{ 1 + }}", NULL, "line 2", 0);
    expect_error("{{ 'unterminated }}", NULL, "unterminated", 0);
    expect_error("{% frobnicate %}", NULL, "frobnicate", 0);
    expect_error("{{ 'a' | }}", NULL, "filter name", 0);
    expect_error("{# never closed", NULL, "comment", 0);
    expect_error("{{ '\\q' }}", NULL, "escaped", 0);
    expect_error("{{ x|nosuchfilter }}", NULL, "unknown filter 'nosuchfilter'", SY_EPARSE);
    expect_error("{{ x is nosuchtest }}", NULL, "unknown test", SY_EPARSE);
    expect_error("{{ raise_exception('Only user and assistant roles!') }}", NULL,
                 "Only user and assistant roles!", SY_EPARSE);
    expect_error("{{ 'ab' * 10000000000 }}", NULL, "string repetition too large", SY_EPARSE);
    /* values built in a temporary buffer and copied into the arena past its limit: the buffer
     * is freed before unwinding (LeakSanitizer checks it in the ASan build) */
    expect_error("{% set a = 'ab' * 8000000 %}{% set b = a ~ a %}{% set c = b ~ b %}"
                 "{% set d = c ~ c %}{{ d|length }}",
                 NULL, "exceeds", SY_ETOOBIG);
    expect_error("{% set a = 'ab' * 4000000 %}{% set b = a * 2 %}{% set c = b * 1 %}"
                 "{% set d = c * 1 %}{% set e = d * 1 %}{{ e|length }}",
                 NULL, "exceeds", SY_ETOOBIG);
    expect_error("{{ 1 / 0 }}", NULL, "division by zero", SY_EPARSE);
    expect_error("{{ 'a' - 1 }}", NULL, "unsupported operand", SY_EPARSE);
    expect_error("{{ 'a'.nomethod() }}", NULL, "no method nomethod", SY_EPARSE);
    expect_error("{{ nofn() }}", NULL, "not callable", SY_EPARSE);
    expect_error("{% for x in 5 %}{% endfor %}", NULL, "not iterable", SY_EPARSE);
    expect_error("{% set a, b = [1] %}", NULL, "unpack", SY_EPARSE);
    expect_error("{{ 1 < 'a' }}", NULL, "compare", SY_EPARSE);
    expect_error("{% set x = 1 %}{% set x.y = 2 %}", NULL, "cannot set attribute", SY_EPARSE);
}

/* A render that fails while a filter, a concatenation or an output statement is building its text
 * frees that text (fuzz_jinja found tojson's buffer leaked; the sanitizer build checks the rest).
 */
static void test_errors_free_partial_text(void **state)
{
    (void)state;
    expect_error("{{ [1, 'a', range] | tojson }}", NULL, "JSON", SY_EPARSE);
    expect_error("{{ {'k': [1, 2, range]} | tojson(indent=2) }}", NULL, "JSON", SY_EPARSE);
    expect_error("{% macro m() %}x{{ [range] | tojson }}{% endmacro %}{{ 'a' ~ m() }}", NULL,
                 "JSON", SY_EPARSE);
    expect_error("{% set b %}{{ 'abc' }}{{ [range] | tojson }}{% endset %}", NULL, "JSON",
                 SY_EPARSE);
    expect_error("{{ ['abc', 'def'] | join(',') }}{{ [1] | tojson(sort_keys=true) }}{{ [range] | "
                 "tojson }}",
                 NULL, "JSON", SY_EPARSE);
}

static void test_errors_free_text_at_memory_limit(void **state)
{
    (void)state;
    /* filters and slices build their text in registered buffers too: when copying a result into
     * the arena passes its limit (SY_JINJA_MAX_OUTPUT x 4), the error exit frees the buffer
     * (ASan reports a leak otherwise). 3 MB in, 3-6 MB out per iteration: the limit is reached
     * at a result's copy. */
    static const char *const tmpls[] = {
        "{% for i in range(100) %}{% set t = (s ~ 'Q') | replace('Q', s) %}{% endfor %}",
        "{% for i in range(100) %}{% set t = s | replace('x', 'y', 5) %}{% endfor %}",
        "{% for i in range(100) %}{% set t = (s ~ '<') | e %}{% endfor %}",
        "{% for i in range(100) %}{% set t = (s ~ s)[::-1] %}{% endfor %}",
        "{% for i in range(100) %}{% set t = (s ~ s)[1:] %}{% endfor %}",
        "{% for i in range(100) %}{% set t = (s ~ '\n' ~ s) | indent(2) %}{% endfor %}",
        "{% for i in range(100) %}{% set t = (s ~ '\n' ~ s) | indent('--', true) %}{% endfor %}",
        "{% macro m() %}{{ s }}{{ s }}{% endmacro %}{% for i in range(100) %}{% set t = m() %}"
        "{% endfor %}",
        "{% for i in range(100) %}{% set t %}{{ s }}{{ s }}{% endset %}{% endfor %}",
    };
    for (size_t i = 0; i < sizeof tmpls / sizeof tmpls[0]; i++) {
        char tmpl[256];
        snprintf(tmpl, sizeof tmpl, "{%% set s = 'x' * 3000000 %%}%s", tmpls[i]);
        expect_error(tmpl, NULL, "exceeds", SY_ETOOBIG);
    }
}

static void test_limits(void **state)
{
    /* work and output are bounded: a huge loop is an error, never a hang or a crash */
    /* (whichever of the step and memory limits trips first) */
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                 "{% endfor %}",
                 NULL, "", SY_ETOOBIG);
    expect_error("{% set s = 'x' * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}", NULL,
                 "exceeds", SY_ETOOBIG);
    expect_error("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", NULL, "nested",
                 SY_EPARSE);
    /* deep nesting is refused at compile time */
    char deep[2000] = "{{ ";
    for (int i = 0; i < 400; i++)
        strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 400; i++)
        strcat(deep, ")");
    strcat(deep, " }}");
    expect_error(deep, NULL, "nesting", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_and_arithmetic),
        cmocka_unit_test(test_comparisons_and_logic),
        cmocka_unit_test(test_members_indexing_slicing),
        cmocka_unit_test(test_string_methods),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_tests),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_whitespace_control),
        cmocka_unit_test(test_chat_template_shapes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_errors_free_partial_text),
        cmocka_unit_test(test_errors_free_text_at_memory_limit),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
