{#- Text: formatting details, quoting, regular expressions.

    Patterns are POSIX / Java-compatible (\d, [+-], $); a replacement names its groups as
    \1 (given in Jinja as '\\1'; Spark's regexp_replace writes $1). Spark: format_string
    (printf-style %s; it prints a null as "null" where PostgreSQL's format prints nothing),
    rlike, regexp_replace. -#}

{#- Text from a template and its values: `template` is SQL text (a literal, or literals
    joined with ||) where each %s takes the next value; a null value prints as nothing. -#}
{% macro format_text(template) -%}
    {{ return(adapter.dispatch('format_text', 'tallyhouse')(template, varargs)) }}
{%- endmacro %}

{% macro postgres__format_text(template, values) -%}
    format({{ template }}, {{ values | join(', ') }})
{%- endmacro %}

{#- Spark: a value as PostgreSQL's text output writes it: null as nothing (format's %s),
    booleans t / f, instants 'YYYY-MM-DD HH:MI:SS[.ffffff]+00' (the warehouse's UTC). -#}
{% macro _spark_pg_text(value) -%}
    (case typeof({{ value }})
        when 'boolean' then case cast({{ value }} as string) when 'true' then 't' when 'false' then 'f' end
        when 'timestamp' then {{ tallyhouse.spark__utc_text('try_cast(cast(' ~ value ~ ' as string) as timestamp)') }} || '+00'
        else cast({{ value }} as string)
    end)
{%- endmacro %}

{% macro spark__format_text(template, values) -%}
    format_string({{ template }}
        {%- for value in values %}, coalesce({{ tallyhouse._spark_pg_text(value) }}, ''){% endfor %})
{%- endmacro %}

{#- Text as an SQL string literal would write it: in single quotes, quotes doubled. -#}
{% macro quoted_text(expression) -%}
    {{ return(adapter.dispatch('quoted_text', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__quoted_text(expression) -%}
    quote_literal({{ expression }})
{%- endmacro %}

{#- Spark: quote_literal, E'…' with doubled backslashes when the text holds one. -#}
{% macro spark__quoted_text(expression) -%}
    (case
        when instr({{ expression }}, chr(92)) > 0
            then 'E' || chr(39) || replace(replace({{ expression }}, chr(92), chr(92) || chr(92)),
                                             chr(39), chr(39) || chr(39)) || chr(39)
        else chr(39) || replace({{ expression }}, chr(39), chr(39) || chr(39)) || chr(39)
    end)
{%- endmacro %}

{#- Whether the text matches the regular expression `pattern` (null for null text). -#}
{% macro matches_regex(text, pattern) -%}
    {{ return(adapter.dispatch('matches_regex', 'tallyhouse')(text, pattern)) }}
{%- endmacro %}

{% macro postgres__matches_regex(text, pattern) -%}
    ({{ text }}) ~ '{{ pattern }}'
{%- endmacro %}

{#- Spark: a PostgreSQL pattern for Java's regex, as an SQL literal: `.` matches a newline
    and `$` only the end of the text (as in PostgreSQL; (?s) and `(?!.)`), [[:space:]] is
    \s, and backslashes and quotes are escaped for Spark's literals. -#}
{% macro _spark_regex(pattern) -%}
    {%- set ns = namespace(out='', escaped=false, bracket=false) -%}
    {%- set pattern = pattern | replace('[:space:]', '\\s') | replace('[:digit:]', '0-9')
        | replace('[:alpha:]', 'A-Za-z') | replace('[:alnum:]', 'A-Za-z0-9') -%}
    {%- for char in pattern -%}
        {%- if ns.escaped -%}
            {%- set ns.out = ns.out ~ char -%}{%- set ns.escaped = false -%}
        {%- elif char == '\\' -%}
            {%- set ns.out = ns.out ~ char -%}{%- set ns.escaped = true -%}
        {%- elif ns.bracket -%}
            {%- set ns.out = ns.out ~ char -%}
            {%- if char == ']' -%}{%- set ns.bracket = false -%}{%- endif -%}
        {%- elif char == '[' -%}
            {%- set ns.out = ns.out ~ char -%}{%- set ns.bracket = true -%}
        {%- elif char == '$' -%}
            {%- set ns.out = ns.out ~ '(?!.)' -%}
        {%- else -%}
            {%- set ns.out = ns.out ~ char -%}
        {%- endif -%}
    {%- endfor -%}
    '(?s){{ ns.out | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{% macro spark__matches_regex(text, pattern) -%}
    ({{ text }}) rlike {{ tallyhouse._spark_regex(pattern) }}
{%- endmacro %}

{#- The text with the first match of `pattern` replaced by `replacement` (\1 … its groups). -#}
{% macro regex_replace(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace', 'tallyhouse')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro postgres__regex_replace(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{#- Spark: the first match only, as PostgreSQL (regexp_replace replaces every match):
    ^(.*?)(?:pattern) keeps the text before it as $1; \1 … in the replacement become $2 …. -#}
{% macro spark__regex_replace(text, pattern, replacement) -%}
    {%- set ns = namespace(out='$1', escaped=false) -%}
    {%- for char in replacement -%}
        {%- if ns.escaped -%}
            {%- if char in '0123456789' -%}{%- set ns.out = ns.out ~ '$' ~ (char | int + 1) -%}
            {%- elif char == '&' -%}{%- set ns.out = ns.out ~ '$2' -%}
            {%- else -%}{%- set ns.out = ns.out ~ '\\' ~ char -%}{%- endif -%}
            {%- set ns.escaped = false -%}
        {%- elif char == '\\' -%}{%- set ns.escaped = true -%}
        {%- elif char == '$' -%}{%- set ns.out = ns.out ~ '\\$' -%}
        {%- else -%}{%- set ns.out = ns.out ~ char -%}{%- endif -%}
    {%- endfor -%}
    {%- set wrapped = tallyhouse._spark_regex('^(.*?)(?:' ~ pattern ~ ')') -%}
    regexp_replace({{ text }}, {{ wrapped }},
                   '{{ ns.out | replace("\\", "\\\\") | replace("'", "\\'") }}')
{%- endmacro %}
