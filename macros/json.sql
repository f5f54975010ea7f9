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

{#- Spark (spark__ macros below): JSON is VARIANT inside queries.
    - raw keeps the payload as STRING; json_parsed = parse_json (with
      spark.sql.variant.allowDuplicateKeys=true the last duplicate key wins, as in jsonb;
      invalid JSON fails the query, as payload::jsonb does). A macro handed raw's column
      itself (`payload`, the delivered text) parses it on the spot.
    - json_get -> variant_get(v, '$["k"][0]') (bracket-quoted keys: 'customer[email]');
      missing -> SQL null, JSON null -> a variant null (not SQL null), like `->`.
    - json_text renders like `->>`: strings unquoted, JSON null -> null, objects and arrays as
      jsonb's text (", " and ": "; keys in the variant's order, not jsonb's), numbers from the
      variant: a decimal loses trailing zeros (1.50 -> '1.5'; a whole decimal 10.0 keeps one:
      '10.0', so it still does not read as an integer), 1e2 -> '100'.
    - Built JSON (json_object_of, json_array_of, json_collect…) is VARIANT, null fields
      kept (to_variant_object). Staging/intermediate tables store VARIANT columns (Parquet);
      a VARIANT must never reach a Thrift client: a mart keeps JSON as to_json text.
    - VARIANT cannot be compared (= / <>) nor referenced from a correlated subquery. -#}


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

{#- Spark: the value that `json` holds, as VARIANT (raw's delivered text is parsed). -#}
{% macro _spark_json_value(json) -%}
    {%- set column = (json | string | trim).split('.')[-1] -%}
    {%- if column == 'payload' -%}parse_json({{ json }}){%- else -%}{{ json }}{%- endif -%}
{%- endmacro %}

{#- Spark: a variant path as an SQL literal: $["key"][0] (['key'] when the key holds "). -#}
{% macro _spark_json_path(path) -%}
    {%- set ns = namespace(text='$') -%}
    {%- for step in path -%}
        {%- if step is number -%}
            {%- set ns.text = ns.text ~ '[' ~ step ~ ']' -%}
        {%- elif '"' in step -%}
            {%- set ns.text = ns.text ~ "['" ~ step ~ "']" -%}
        {%- else -%}
            {%- set ns.text = ns.text ~ '["' ~ step ~ '"]' -%}
        {%- endif -%}
    {%- endfor -%}
    '{{ ns.text | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{% macro spark__json_get(json, path) -%}
    {%- if path | length == 0 -%}
    {{ tallyhouse._spark_json_value(json) }}
    {%- else -%}
    variant_get({{ tallyhouse._spark_json_value(json) }}, {{ tallyhouse._spark_json_path(path) }})
    {%- endif -%}
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

{#- Spark: `body` with `value` computed once, under the name `name` (a lambda
    variable: transform(array(value), name -> body)[0]). Spark has no common-expression
    binding in SQL: an expression written twice is analysed, optimised and evaluated twice,
    and the readers nest their values (a json_text inside a safe cast inside a check), so
    without this a staging model's plan grows exponentially with the nesting. `body` must not
    hold an aggregate (nor a subquery): lambdas cannot. -#}
{% macro _spark_let_name(value) -%}
    {{- return('_' ~ local_md5(value | string)[:8]) -}}
{%- endmacro %}

{% macro _spark_let(value, name, body) -%}
    transform(array({{ value }}), {{ name }} -> {{ body }})[0]
{%- endmacro %}

{#- Spark: a VARIANT value as `->>` writes it (see the note at the top). The value, its
    schema and its text are each computed once (_spark_let): json_text is the most
    repeated expression of the staging models. -#}
{% macro _spark_json_text_of(value) -%}
    {%- set v = tallyhouse._spark_let_name(value) -%}
    {%- set body = "case when _st.s like 'OBJECT%' or _st.s like 'ARRAY%' then "
        ~ tallyhouse._spark_jsonb_spacing('to_json(' ~ v ~ ')')
        ~ " when _st.s in ('DOUBLE','FLOAT') then coalesce(regexp_replace(cast(try_cast("
        ~ "_st.t as decimal(38,18)) as string),'[.]?0+$',''),cast(try_cast(_st.t as "
        ~ "decimal(38,0)) as string),_st.t)"
        ~ " when _st.s like 'DECIMAL(%,0)' and abs(try_cast(_st.t as decimal(38,0)))"
        ~ "<=9223372036854775807 then _st.t||'.0'"
        ~ " else _st.t end" -%}
    {{ tallyhouse._spark_let(value, v,
        "transform(array(named_struct('s', schema_of_variant(" ~ v ~ "), 't', variant_get("
        ~ v ~ ", '$', 'string'))), _st -> " ~ body ~ ")[0]") }}
{%- endmacro %}

{#- Spark: compact JSON text with jsonb's spacing (", " and ": " outside strings). -#}
{% macro _spark_jsonb_spacing(json_text) -%}
    regexp_replace({{ json_text }}, '([,:])(?=(?:[^"\\\\]++|\\\\.|"(?:[^"\\\\]++|\\\\.)*+")*+$)', '$1 ')
{%- endmacro %}

{% macro spark__json_text(json, path) -%}
    {{ tallyhouse._spark_json_text_of(tallyhouse.spark__json_get(json, path)) }}
{%- endmacro %}

{#- The text of the key of `json` that an expression names (a column, not a literal). -#}
{% macro json_text_by_key(json, key_expression) -%}
    {{ return(adapter.dispatch('json_text_by_key', 'tallyhouse')(json, key_expression)) }}
{%- endmacro %}

{% macro postgres__json_text_by_key(json, key_expression) -%}
    {{ json }} ->> {{ key_expression }}
{%- endmacro %}

{% macro spark__json_text_by_key(json, key_expression) -%}
    {{ tallyhouse._spark_json_text_of(
        "try_variant_get(" ~ tallyhouse._spark_json_value(json)
        ~ ", '$', 'map<string, variant>')[" ~ key_expression ~ "]") }}
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

{#- Spark: jsonb's `?`: an object's key, a string element of an array, or the string
    itself; `delivered`: (payload -> 'key') is not null. -#}
{% macro spark__json_has_key(json, key, delivered=false) -%}
    {%- set value = tallyhouse._spark_json_value(json) -%}
    {%- set at_key = "variant_get(" ~ value ~ ", " ~ tallyhouse._spark_json_path([key]) ~ ")" -%}
    {%- set key_literal = "'" ~ (key | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'" -%}
    {%- if delivered -%}
    ({{ at_key }} is not null)
    {%- else -%}
    (case
        when {{ value }} is null then null
        when try_variant_get({{ value }}, '$', 'struct<>') is not null
            then {{ at_key }} is not null
        when try_variant_get({{ value }}, '$', 'array<variant>') is not null
            then exists(try_variant_get({{ value }}, '$', 'array<variant>'),
                        e -> schema_of_variant(e) = 'STRING'
                             and variant_get(e, '$', 'string') = {{ key_literal }})
        when schema_of_variant({{ value }}) = 'STRING'
            then variant_get({{ value }}, '$', 'string') = {{ key_literal }}
        else false
    end)
    {%- endif -%}
{%- endmacro %}

{#- The JSON type of a value: object, array, string, number, boolean, null. -#}
{% macro json_type(json, delivered=false) -%}
    {{ return(adapter.dispatch('json_type', 'tallyhouse')(json, delivered)) }}
{%- endmacro %}

{% macro postgres__json_type(json, delivered) -%}
    {{ 'json_typeof' if delivered else 'jsonb_typeof' }}({{ json }})
{%- endmacro %}

{% macro spark__json_type(json, delivered) -%}
    {%- set value = tallyhouse._spark_json_value(json) -%}
    (case
        when {{ value }} is null then null
        when is_variant_null({{ value }}) then 'null'
        when try_variant_get({{ value }}, '$', 'struct<>') is not null then 'object'
        when try_variant_get({{ value }}, '$', 'array<variant>') is not null then 'array'
        when schema_of_variant({{ value }}) = 'STRING' then 'string'
        when schema_of_variant({{ value }}) = 'BOOLEAN' then 'boolean'
        else 'number'
    end)
{%- endmacro %}

{#- The JSON value of delivered text (raw's payload), parsed once for reading. -#}
{% macro json_parsed(delivered) -%}
    {{ return(adapter.dispatch('json_parsed', 'tallyhouse')(delivered)) }}
{%- endmacro %}

{% macro postgres__json_parsed(delivered) -%}
    {{ delivered }}::jsonb
{%- endmacro %}

{% macro spark__json_parsed(delivered) -%}
    parse_json({{ delivered }})
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

{#- Spark: a derived table over variant_explode (pos from 0; objects are not exploded).
    Usable after `cross join lateral`; NOT in a correlated subquery over a VARIANT column
    (Spark refuses a correlated reference of type variant). -#}
{% macro spark__json_elements(json_array, alias, position) -%}
    {%- set value = tallyhouse._spark_json_value(json_array) -%}
    (
        select value {%- if position %}, pos + 1 as position{% endif %}
        from variant_explode(
            case when try_variant_get({{ value }}, '$', 'array<variant>') is not null
                then {{ value }} end
        )
    ) as {{ alias }}
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

{% macro spark__join_json_elements(json_array, alias, position) -%}
    cross join lateral {{ tallyhouse.spark__json_elements(json_array, alias, position) }}
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

{#- Spark: nulls are kept ({"k": null}, as jsonb_build_object); a VARIANT value nests. -#}
{% macro spark__json_object_of(fields) -%}
    to_variant_object(named_struct(
        {%- for key, value in fields.items() %}
        '{{ key }}', {{ value }}{{ ',' if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{#- A JSON array of `items` (SQL expressions). -#}
{% macro json_array_of(items) -%}
    {{ return(adapter.dispatch('json_array_of', 'tallyhouse')(items)) }}
{%- endmacro %}

{% macro postgres__json_array_of(items) -%}
    jsonb_build_array({{ items | join(', ') }})
{%- endmacro %}

{% macro spark__json_array_of(items) -%}
    to_variant_object(array({{ items | join(', ') }}))
{%- endmacro %}

{#- An empty JSON array. -#}
{% macro json_empty_array() -%}
    {{ return(adapter.dispatch('json_empty_array', 'tallyhouse')()) }}
{%- endmacro %}

{% macro postgres__json_empty_array() -%}
    '[]'::jsonb
{%- endmacro %}

{% macro spark__json_empty_array() -%}
    parse_json('[]')
{%- endmacro %}

{#- Two JSON arrays as one: the elements of `first`, then those of `second`. -#}
{% macro json_array_concat(first, second) -%}
    {{ return(adapter.dispatch('json_array_concat', 'tallyhouse')(first, second)) }}
{%- endmacro %}

{% macro postgres__json_array_concat(first, second) -%}
    {{ first }} || {{ second }}
{%- endmacro %}

{#- Spark: arrays only (the project's use); null when either is null, like jsonb's ||. -#}
{% macro spark__json_array_concat(first, second) -%}
    to_variant_object(concat(
        try_variant_get({{ first }}, '$', 'array<variant>'),
        try_variant_get({{ second }}, '$', 'array<variant>')
    ))
{%- endmacro %}

{#- Aggregate: the group's values as a JSON array, in `order_by` (SQL, without "order by")
    when given; null for no rows. -#}
{% macro json_collect(value, order_by=none) -%}
    {{ return(adapter.dispatch('json_collect', 'tallyhouse')(value, order_by)) }}
{%- endmacro %}

{% macro postgres__json_collect(value, order_by) -%}
    jsonb_agg({{ value }} {%- if order_by %} order by {{ order_by }}{% endif %})
{%- endmacro %}

{#- Spark: `order_by` (expressions separated by commas, each optionally asc/desc) as
    PostgreSQL orders: nulls last ascending, first descending. -#}
{% macro _spark_order_keys(order_by) -%}
    {%- set keys = [] -%}
    {%- set ns = namespace(depth=0, current='', quote=false) -%}
    {%- for char in (order_by ~ ',') -%}
        {%- if char == "'" -%}{%- set ns.quote = not ns.quote -%}{%- endif -%}
        {%- if char == ',' and ns.depth == 0 and not ns.quote -%}
            {%- set text = ns.current | trim -%}
            {%- set lowered = text | lower -%}
            {%- if lowered.endswith(' desc') -%}
                {%- do keys.append({'expression': text[:-5], 'descending': true}) -%}
            {%- elif lowered.endswith(' asc') -%}
                {%- do keys.append({'expression': text[:-4], 'descending': false}) -%}
            {%- else -%}
                {%- do keys.append({'expression': text, 'descending': false}) -%}
            {%- endif -%}
            {%- set ns.current = '' -%}
        {%- else -%}
            {%- if char == '(' and not ns.quote -%}{%- set ns.depth = ns.depth + 1 -%}{%- endif -%}
            {%- if char == ')' and not ns.quote -%}{%- set ns.depth = ns.depth - 1 -%}{%- endif -%}
            {%- set ns.current = ns.current ~ char -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(keys) }}
{%- endmacro %}

{#- Spark: collect_list of named_struct(k0.., v) sorted by a comparator, as PostgreSQL's
    order by inside an aggregate; `distinct`: each identical (order keys, value) once
    (collect_set), for aggregates where a repeat changes nothing. -#}
{% macro _spark_sorted_values(value, order_by, distinct=false) -%}
    {%- set keys = tallyhouse._spark_order_keys(order_by) if order_by else [] -%}
    {%- set fields = [] -%}
    {%- for key in keys -%}
        {%- do fields.append("'k" ~ loop.index0 ~ "', " ~ key.expression) -%}
    {%- endfor -%}
    {%- do fields.append("'v', " ~ value) -%}
    {%- set collected = ("collect_set" if distinct else "collect_list")
        ~ "(named_struct(" ~ fields | join(', ') ~ "))" -%}
    {%- if keys -%}
    {%- set ns = namespace(comparison='0') -%}
    {%- for key in keys | reverse -%}
        {%- set k = 'k' ~ (keys | length - loop.index) -%}
        {%- set first, last = ('r', 'l') if key.descending else ('l', 'r') -%}
        {%- set ns.comparison = "case when l." ~ k ~ " is null and r." ~ k ~ " is null then "
            ~ ns.comparison
            ~ " when l." ~ k ~ " is null then " ~ ('-1' if key.descending else '1')
            ~ " when r." ~ k ~ " is null then " ~ ('1' if key.descending else '-1')
            ~ " when " ~ first ~ "." ~ k ~ " < " ~ last ~ "." ~ k ~ " then -1"
            ~ " when " ~ first ~ "." ~ k ~ " > " ~ last ~ "." ~ k ~ " then 1"
            ~ " else " ~ ns.comparison ~ " end" -%}
    {%- endfor -%}
    {{ return("array_sort(" ~ collected ~ ", (l, r) -> " ~ ns.comparison ~ ")") }}
    {%- else -%}
    {{ return(collected) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__json_collect(value, order_by) -%}
    {%- set sorted = tallyhouse._spark_sorted_values(value, order_by) -%}
    case when count(1) > 0 then to_variant_object(transform({{ sorted }}, s -> s.v)) end
{%- endmacro %}

{#- Aggregate: the group's (key, value) pairs as one JSON object; when a key comes twice,
    the last in `order_by` wins. -#}
{% macro json_collect_object(key, value, order_by) -%}
    {{ return(adapter.dispatch('json_collect_object', 'tallyhouse')(key, value, order_by)) }}
{%- endmacro %}

{% macro postgres__json_collect_object(key, value, order_by) -%}
    jsonb_object_agg({{ key }}, {{ value }} order by {{ order_by }})
{%- endmacro %}

{#- Spark: the last pair of a key in `order_by` wins (whatever spark.sql.mapKeyDedupPolicy).
    Each element is compared with the ones after it, so the pairs are collected distinct
    first (a repeated pair changes nothing): over every row of a group the comparison was
    quadratic in the group's rows — a product's thousands of transactions held a build at
    100 000 transactions for minutes — and is now quadratic in its few distinct pairs. -#}
{% macro spark__json_collect_object(key, value, order_by) -%}
    {%- set sorted = tallyhouse._spark_sorted_values(
        "named_struct('key', " ~ key ~ ", 'value', " ~ value ~ ")", order_by, distinct=true) -%}
    case when count(1) > 0 then to_variant_object(map_from_entries(filter(
        transform({{ sorted }}, s -> s.v),
        (e, i) -> not exists(
            slice(transform({{ sorted }}, s -> s.v), i + 2, 2147483647),
            later -> later.key = e.key)
    ))) end
{%- endmacro %}


{#- ------------------------------------------------------------- comparing -#}

{#- Whether two JSON values are equal (as JSON). -#}
{% macro json_equals(first, second) -%}
    {{ return(adapter.dispatch('json_equals', 'tallyhouse')(first, second)) }}
{%- endmacro %}

{% macro postgres__json_equals(first, second) -%}
    {{ first }} = {{ second }}
{%- endmacro %}

{#- Spark: a VARIANT cannot be compared; its JSON text can (to_variant_object and
    parse_json write an object's keys sorted, so equal values give equal texts). -#}
{% macro spark__json_equals(first, second) -%}
    to_json({{ first }}) = to_json({{ second }})
{%- endmacro %}


{#- ------------------------------------------------------------- storing -#}

{#- A JSON value as a mart's column holds it (a query's own JSON type where the warehouse
    can return it; its JSON text where not). -#}
{% macro json_column() -%}
    {{ return(adapter.dispatch('json_column', 'tallyhouse')(caller())) }}
{%- endmacro %}

{% macro postgres__json_column(json) -%}
    {{ return(json) }}
{%- endmacro %}

{#- Spark: a VARIANT never reaches a client (macros/json.sql, top): the text, with jsonb's
    spacing; an object's keys come in the variant's order (sorted), not jsonb's (shorter
    first). -#}
{% macro spark__json_column(json) -%}
    {{ return(tallyhouse._spark_jsonb_spacing('to_json(' ~ json ~ ')')) }}
{%- endmacro %}
