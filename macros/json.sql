{#- JSON, read and written: every model reaches into a payload through these, never
    through a warehouse's operators.

    A path is given as separate arguments: keys as strings, array positions as integers
    (from 0):

        {{ json_get('body', 'data', 'buyer') }}            the value there (JSON)
        {{ json_text('purchase', 'price', 'value') }}      the value there as text
        {{ json_text('orders.items', 0, 'productId') }}    the first item's productId

    PostgreSQL holds a parsed payload as jsonb (raw keeps what was delivered as json, the
    text as sent: `delivered=true` where a macro reads raw's column directly). A warehouse
    without a JSON type keeps JSON as text and these read it on access — Spark:
    get_json_object(x, '$.data.buyer'), from_json / posexplode for arrays, to_json of a
    named_struct to build one. -#}


{#- ------------------------------------------------------------- reading -#}

{% macro _json_step(step) -%}
    {{ step if step is number else "'" ~ step ~ "'" }}
{%- endmacro %}

{#- The JSON value at a path of `json` (null when a step is missing). -#}
{% macro json_get(json) -%}
    {{ return(adapter.dispatch('json_get', 'tallyhouse')(json, varargs)) }}
{%- endmacro %}

{% macro postgres__json_get(json, path) -%}
    {{ json }}
    {%- for step in path %} -> {{ tallyhouse._json_step(step) }}{% endfor %}
{%- endmacro %}

{#- The value at a path of `json` as text: a string without its quotes, a number or a
    boolean as written, an object or array as its JSON text; null when missing or null. -#}
{% macro json_text(json) -%}
    {{ return(adapter.dispatch('json_text', 'tallyhouse')(json, varargs)) }}
{%- endmacro %}

{% macro postgres__json_text(json, path) -%}
    {{ json }}
    {%- for step in path %} {{ '->>' if loop.last else '->' }} {{ tallyhouse._json_step(step) }}
    {%- endfor %}
{%- endmacro %}

{#- The text of the key of `json` that an expression names (a column, not a literal). -#}
{% macro json_text_by_key(json, key_expression) -%}
    {{ return(adapter.dispatch('json_text_by_key', 'tallyhouse')(json, key_expression)) }}
{%- endmacro %}

{% macro postgres__json_text_by_key(json, key_expression) -%}
    {{ json }} ->> {{ key_expression }}
{%- endmacro %}

{#- Whether the JSON object `json` has the key (with any value, null included). -#}
{% macro json_has_key(json, key, delivered=false) -%}
    {{ return(adapter.dispatch('json_has_key', 'tallyhouse')(json, key, delivered)) }}
{%- endmacro %}

{% macro postgres__json_has_key(json, key, delivered=false) -%}
    {%- if delivered -%}
    ({{ json }} -> '{{ key }}') is not null
    {%- else -%}
    {{ json }} ? '{{ key }}'
    {%- endif -%}
{%- endmacro %}

{#- The JSON type of a value: object, array, string, number, boolean, null. -#}
{% macro json_type(json, delivered=false) -%}
    {{ return(adapter.dispatch('json_type', 'tallyhouse')(json, delivered)) }}
{%- endmacro %}

{% macro postgres__json_type(json, delivered) -%}
    {{ 'json_typeof' if delivered else 'jsonb_typeof' }}({{ json }})
{%- endmacro %}

{#- The JSON value of delivered text (raw's payload), parsed once for reading. -#}
{% macro json_parsed(delivered) -%}
    {{ return(adapter.dispatch('json_parsed', 'tallyhouse')(delivered)) }}
{%- endmacro %}

{% macro postgres__json_parsed(delivered) -%}
    {{ delivered }}::jsonb
{%- endmacro %}


{#- ------------------------------------------------------ arrays as rows -#}

{#- A row source (for a FROM clause) of the elements of a JSON array, one row per element:
    `alias.value` is the element and, with position=true, `alias.position` its place
    (from 1). Nothing when the value is not an array. -#}
{% macro json_elements(json_array, alias, position=false) -%}
    {{ return(adapter.dispatch('json_elements', 'tallyhouse')(json_array, alias, position)) }}
{%- endmacro %}

{% macro postgres__json_elements(json_array, alias, position) -%}
    jsonb_array_elements(
        case when jsonb_typeof({{ json_array }}) = 'array' then {{ json_array }} end
    ) {{- ' with ordinality' if position }} as {{ alias }} (value {{- ', position' if position }})
{%- endmacro %}

{#- A join clause: each row of the tables before it, once per element of its JSON array
    (json_elements; a row whose array is empty or not an array drops out). -#}
{% macro join_json_elements(json_array, alias, position=false) -%}
    {{ return(adapter.dispatch('join_json_elements', 'tallyhouse')(
        json_array, alias, position)) }}
{%- endmacro %}

{% macro postgres__join_json_elements(json_array, alias, position) -%}
    cross join lateral {{ tallyhouse.json_elements(json_array, alias, position) }}
{%- endmacro %}


{#- ------------------------------------------------------------- writing -#}

{#- A JSON object of `fields`: a dict of key -> SQL expression, in that order. -#}
{% macro json_object_of(fields) -%}
    {{ return(adapter.dispatch('json_object_of', 'tallyhouse')(fields)) }}
{%- endmacro %}

{% macro postgres__json_object_of(fields) -%}
    jsonb_build_object(
        {%- for key, value in fields.items() %}
        '{{ key }}', {{ value }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- A JSON array of `items` (SQL expressions). -#}
{% macro json_array_of(items) -%}
    {{ return(adapter.dispatch('json_array_of', 'tallyhouse')(items)) }}
{%- endmacro %}

{% macro postgres__json_array_of(items) -%}
    jsonb_build_array({{ items | join(', ') }})
{%- endmacro %}

{#- An empty JSON array. -#}
{% macro json_empty_array() -%}
    {{ return(adapter.dispatch('json_empty_array', 'tallyhouse')()) }}
{%- endmacro %}

{% macro postgres__json_empty_array() -%}
    '[]'::jsonb
{%- endmacro %}

{#- Two JSON arrays as one: the elements of `first`, then those of `second`. -#}
{% macro json_array_concat(first, second) -%}
    {{ return(adapter.dispatch('json_array_concat', 'tallyhouse')(first, second)) }}
{%- endmacro %}

{% macro postgres__json_array_concat(first, second) -%}
    {{ first }} || {{ second }}
{%- endmacro %}

{#- Aggregate: the group's values as a JSON array, in `order_by` (SQL, without "order by")
    when given; null for no rows. -#}
{% macro json_collect(value, order_by=none) -%}
    {{ return(adapter.dispatch('json_collect', 'tallyhouse')(value, order_by)) }}
{%- endmacro %}

{% macro postgres__json_collect(value, order_by) -%}
    jsonb_agg({{ value }} {%- if order_by %} order by {{ order_by }}{% endif %})
{%- endmacro %}

{#- Aggregate: the group's (key, value) pairs as one JSON object; when a key comes twice,
    the last in `order_by` wins. -#}
{% macro json_collect_object(key, value, order_by) -%}
    {{ return(adapter.dispatch('json_collect_object', 'tallyhouse')(key, value, order_by)) }}
{%- endmacro %}

{% macro postgres__json_collect_object(key, value, order_by) -%}
    jsonb_object_agg({{ key }}, {{ value }} order by {{ order_by }})
{%- endmacro %}
