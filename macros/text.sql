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

{#- Text as an SQL string literal would write it: in single quotes, quotes doubled. -#}
{% macro quoted_text(expression) -%}
    {{ return(adapter.dispatch('quoted_text', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__quoted_text(expression) -%}
    quote_literal({{ expression }})
{%- endmacro %}

{#- Whether the text matches the regular expression `pattern` (null for null text). -#}
{% macro matches_regex(text, pattern) -%}
    {{ return(adapter.dispatch('matches_regex', 'tallyhouse')(text, pattern)) }}
{%- endmacro %}

{% macro postgres__matches_regex(text, pattern) -%}
    ({{ text }}) ~ '{{ pattern }}'
{%- endmacro %}

{#- The text with the first match of `pattern` replaced by `replacement` (\1 … its groups). -#}
{% macro regex_replace(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace', 'tallyhouse')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro postgres__regex_replace(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}
