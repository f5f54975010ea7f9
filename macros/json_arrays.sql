{#- Figures over the elements of a JSON array (or of a short list of values), per row.

    PostgreSQL writes them as correlated subqueries over json_elements():
        (select sum(x) from json_elements(partners, 'p') where …)
    and a model keeps that SQL as it is, inside a call block that also states what the
    subquery computes, so that a warehouse without such subqueries can build the same
    figure its own way:

        {% call json_elements_scalar('partners', 'p',
                {'total': {'kind': 'sum', 'value': cents}},
                result='cast(coalesce(total, 0) as …)') -%}
        (select cast(coalesce(sum(…), 0) as …) from {{ json_elements('partners', 'p') }})
        {%- endcall %}

    An aggregate is a dict: kind (sum, collect, text, count, exists, first), value (SQL over
    the element: `p.value`, `p.position` from 1, or the value itself for a list of values),
    where (only the elements where it holds), order_by (collect, first: SQL without
    "order by"), delimiter (text: an SQL literal), within ({'json_array', 'alias'}: a sum
    over the elements of an array inside each element, the inner alias's `where` and
    `value`), result (SQL over the aggregate's own name: the figure written around it).
      sum     null when no element has a value (sum)
      collect the values as a JSON array, null for no element (json_collect)
      text    the non-null texts joined, null for none (text_agg)
      count   how many elements (count_where)
      exists  whether any element holds `where`
      first   `value` of the first element in order_by (order by … limit 1)

    Spark refuses a correlated subquery over a VARIANT column (and an aggregate mixing an
    outer row's columns with the subquery's): there these are higher-order functions over
    the array (filter, aggregate, transform, array_sort, exists), with no join at all. -#}


{#- A scalar figure: the call block's body is the PostgreSQL subquery; `aggregates` a dict
    name -> aggregate, `result` the figure over those names (the only aggregate when none).
    `values` (a list of literal texts) instead of a JSON array: rows_of_values. -#}
{% macro json_elements_scalar(json_array, alias, aggregates, result=none, values=none) -%}
    {{ return(adapter.dispatch('json_elements_scalar', 'tallyhouse')(
        caller(), json_array, alias, aggregates, result, values)) }}
{%- endmacro %}

{% macro postgres__json_elements_scalar(query, json_array, alias, aggregates, result, values) -%}
    {{ return(query) }}
{%- endmacro %}

{% macro spark__json_elements_scalar(query, json_array, alias, aggregates, result, values) -%}
    {%- set rows = tallyhouse._spark_element_rows(json_array, values) -%}
    {%- set names = aggregates.keys() | list -%}
    {%- if result is none and names | length == 1 -%}
    {{ tallyhouse._spark_elements_aggregate(rows, alias, aggregates[names[0]]) }}
    {%- else -%}
    {%- set ns = namespace(sql=result) -%}
    {%- for name in names | reverse -%}
        {%- set ns.sql = tallyhouse._spark_let(
            tallyhouse._spark_elements_aggregate(rows, alias, aggregates[name]), name, ns.sql) -%}
    {%- endfor -%}
    {{ ns.sql }}
    {%- endif -%}
{%- endmacro %}


{#- A join clause (the join_lateral call block over a JSON array): each row with the
    figures of `columns` (a dict name -> aggregate, in the order of the block's select) over
    its elements, under `alias`. -#}
{% macro join_json_aggregates(alias, json_array, element_alias, columns) -%}
    {{ return(adapter.dispatch('join_json_aggregates', 'tallyhouse')(
        caller(), alias, json_array, element_alias, columns)) }}
{%- endmacro %}

{% macro postgres__join_json_aggregates(query, alias, json_array, element_alias, columns) -%}
    {{ return(tallyhouse.postgres__join_lateral(alias, query)) }}
{%- endmacro %}

{#- Spark: a generator of one struct (no subquery: a lateral generator may read a VARIANT
    column). -#}
{% macro spark__join_json_aggregates(query, alias, json_array, element_alias, columns) -%}
    {%- set rows = tallyhouse._spark_element_rows(json_array) -%}
    cross join lateral inline(array(named_struct(
        {%- for name, aggregate in columns.items() %}
        '{{ name }}', {{ tallyhouse._spark_elements_aggregate(rows, element_alias, aggregate, name) }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    ))) as {{ alias }} ({{ columns.keys() | join(', ') }})
{%- endmacro %}


{#- Conditions and texts over the elements, as SQL strings (check_elements). -#}
{#- Whether some element (`alias`) of the array satisfies `condition`. -#}
{% macro json_elements_exist(json_array, alias, condition) -%}
    {{ return(adapter.dispatch('json_elements_exist', 'tallyhouse')(
        json_array, alias, condition)) }}
{%- endmacro %}

{% macro postgres__json_elements_exist(json_array, alias, condition) -%}
    {{ return("exists (select 1 from " ~ tallyhouse.json_elements(json_array, alias)
              ~ " where " ~ condition ~ ")") }}
{%- endmacro %}

{% macro spark__json_elements_exist(json_array, alias, condition) -%}
    {{ return(tallyhouse._spark_elements_aggregate(
        tallyhouse._spark_element_rows(json_array), alias,
        {'kind': 'exists', 'where': condition})) }}
{%- endmacro %}

{#- The texts `expression` of the elements joined by `delimiter` (text_agg). -#}
{% macro json_elements_text(json_array, alias, expression, delimiter) -%}
    {{ return(adapter.dispatch('json_elements_text', 'tallyhouse')(
        json_array, alias, expression, delimiter)) }}
{%- endmacro %}

{% macro postgres__json_elements_text(json_array, alias, expression, delimiter) -%}
    {{ return("(select " ~ tallyhouse.text_agg(expression, delimiter) ~ " from "
              ~ tallyhouse.json_elements(json_array, alias) ~ ")") }}
{%- endmacro %}

{% macro spark__json_elements_text(json_array, alias, expression, delimiter) -%}
    {{ return(tallyhouse._spark_elements_aggregate(
        tallyhouse._spark_element_rows(json_array), alias,
        {'kind': 'text', 'value': expression, 'delimiter': delimiter})) }}
{%- endmacro %}


{#- ------------------------------------------------------------ Spark -#}

{#- The elements as an array: of structs (value, position from 1) for a JSON array (none
    when it is not an array), of the texts themselves for `values`. -#}
{% macro _spark_element_rows(json_array, values=none) -%}
    {%- if values is not none -%}
    {{ return("array('" ~ values | join("', '") ~ "')") }}
    {%- else -%}
    {{ return("transform(coalesce(try_variant_get("
        ~ tallyhouse._spark_json_value(json_array)
        ~ ", '$', 'array<variant>'), cast(array() as array<variant>)), "
        ~ "(_element, _index) -> named_struct('value', _element, 'position', _index + 1))") }}
    {%- endif -%}
{%- endmacro %}

{#- One aggregate (see the top) over `rows`, each element under the lambda name `alias`;
    its `result` (if any) reads it under `name`. -#}
{% macro _spark_elements_aggregate(rows, alias, aggregate, name=none) -%}
    {%- set kind = aggregate['kind'] -%}
    {%- set where = aggregate.get('where') -%}
    {%- set kept = ("filter(" ~ rows ~ ", " ~ alias ~ " -> coalesce(" ~ where ~ ", false))")
        if where else rows -%}
    {%- if kind == 'sum' -%}
        {%- set value = aggregate['value'] -%}
        {%- if aggregate.get('within') -%}
            {%- set inner = aggregate['within'] -%}
            {%- set value = tallyhouse._spark_elements_aggregate(
                tallyhouse._spark_element_rows(inner['json_array']), inner['alias'],
                {'kind': 'sum', 'value': aggregate['value'], 'where': where}) -%}
            {%- set kept = rows -%}
        {%- endif -%}
        {%- set total = '_sum_' ~ alias -%}
        {%- set x = tallyhouse._spark_let_name(value) -%}
        {%- set sql = "aggregate(" ~ kept ~ ", cast(null as decimal(38, 10)), (" ~ total ~ ", "
            ~ alias ~ ") -> " ~ tallyhouse._spark_let(value, x,
                "case when " ~ x ~ " is null then " ~ total ~ " else cast(coalesce(" ~ total
                ~ ", 0) + " ~ x ~ " as decimal(38, 10)) end") ~ ")" -%}
    {%- elif kind == 'count' -%}
        {%- set sql = "size(" ~ kept ~ ")" -%}
    {%- elif kind == 'exists' -%}
        {%- set sql = "exists(" ~ rows ~ ", " ~ alias ~ " -> coalesce(" ~ where ~ ", false))" -%}
    {%- elif kind == 'text' -%}
        {%- set texts = "filter(transform(" ~ kept ~ ", " ~ alias ~ " -> " ~ aggregate['value']
            ~ "), _text -> _text is not null)" -%}
        {%- set t = tallyhouse._spark_let_name(texts) -%}
        {%- set sql = tallyhouse._spark_let(texts, t, "case when size(" ~ t
            ~ ") > 0 then array_join(" ~ t ~ ", " ~ aggregate['delimiter'] ~ ") end") -%}
    {%- elif kind in ('collect', 'first') -%}
        {%- set order_by = aggregate.get('order_by') -%}
        {%- if order_by -%}
            {%- set items = tallyhouse._spark_order_items(order_by) -%}
            {%- set fields = [] -%}
            {%- for item in items -%}
                {%- do fields.append("'k" ~ loop.index0 ~ "', " ~ item.expression) -%}
            {%- endfor -%}
            {%- set keyed = "transform(" ~ kept ~ ", " ~ alias ~ " -> named_struct("
                ~ fields | join(', ') ~ ", 'v', " ~ aggregate['value'] ~ "))" -%}
            {%- set values = "transform(array_sort(" ~ keyed ~ ", (_l, _r) -> "
                ~ tallyhouse._spark_comparator(items) ~ "), _sorted -> _sorted.v)" -%}
        {%- else -%}
            {%- set values = "transform(" ~ kept ~ ", " ~ alias ~ " -> " ~ aggregate['value'] ~ ")" -%}
        {%- endif -%}
        {%- set v = tallyhouse._spark_let_name(values) -%}
        {%- if kind == 'collect' -%}
            {%- set sql = tallyhouse._spark_let(values, v, "case when size(" ~ v
                ~ ") > 0 then to_variant_object(" ~ v ~ ") end") -%}
        {%- else -%}
            {%- set sql = "try_element_at(" ~ values ~ ", 1)" -%}
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error('unknown aggregate kind ' ~ kind) }}
    {%- endif -%}
    {%- if aggregate.get('result') -%}
        {{ return(tallyhouse._spark_let(sql, name, aggregate['result'])) }}
    {%- else -%}
        {{ return(sql) }}
    {%- endif -%}
{%- endmacro %}
