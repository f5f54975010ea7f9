{#- Aggregates that SQL dialects spell differently: conditional aggregates, text and array
    aggregates, the first value of a group in an order.

    A conditional aggregate is `{{ sum_where('amount', "role = 'producer'") }}`: PostgreSQL
    (and Spark 3+) have the standard FILTER clause; the default is the same aggregate over
    `case when … then … end`, which every warehouse reads. Spark: string_agg … within
    group (order by …) or array_join over collect_list; array_sort(collect_set(x)); min_by /
    max_by or array_sort over collect_list(struct(…)) for the first value in an order. -#}


{#- ------------------------------------------------------ conditional aggregates -#}

{#- `function` (count, sum, min, max …) over the rows where `condition` holds: null (0 for
    count) when none does. `expression` '*' counts rows. -#}
{% macro aggregate_where(function, expression, condition) -%}
    {{ return(adapter.dispatch('aggregate_where', 'tallyhouse')(
        function, expression, condition)) }}
{%- endmacro %}

{% macro default__aggregate_where(function, expression, condition) -%}
    {{ function }}(case when {{ condition }} then {{ '1' if expression == '*' else expression }} end)
{%- endmacro %}

{% macro postgres__aggregate_where(function, expression, condition) -%}
    {{ function }}({{ expression }}) filter (where {{ condition }})
{%- endmacro %}

{#- Spark: the default__ (case when) gives the same values. -#}

{#- How many rows of the group satisfy `condition` (0 when none). -#}
{% macro count_where(condition) -%}
    {{ aggregate_where('count', '*', condition) }}
{%- endmacro %}

{#- The sum of `expression` over the rows where `condition` holds (null when none). -#}
{% macro sum_where(expression, condition) -%}
    {{ aggregate_where('sum', expression, condition) }}
{%- endmacro %}

{#- The least `expression` of the rows where `condition` holds (null when none). -#}
{% macro min_where(expression, condition) -%}
    {{ aggregate_where('min', expression, condition) }}
{%- endmacro %}

{#- The greatest `expression` of the rows where `condition` holds (null when none). -#}
{% macro max_where(expression, condition) -%}
    {{ aggregate_where('max', expression, condition) }}
{%- endmacro %}


{#- ------------------------------------------------------ text and arrays -#}

{#- The group's non-null texts joined by `delimiter` (an SQL literal, e.g. "', '"): in
    `order_by` (SQL, without "order by") when given; each once and sorted when
    `distinct`; only the rows where `where` holds when given. Null for none.
    (dbt.listagg has no distinct and no condition.) -#}
{% macro text_agg(expression, delimiter, order_by=none, distinct=false, where=none) -%}
    {{ return(adapter.dispatch('text_agg', 'tallyhouse')(
        expression, delimiter, order_by, distinct, where)) }}
{%- endmacro %}

{% macro postgres__text_agg(expression, delimiter, order_by, distinct, where) -%}
    string_agg(
        {{- 'distinct ' if distinct }}{{ expression }}, {{ delimiter }}
        {%- if order_by %} order by {{ order_by }}{% endif -%}
    )
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{#- Spark 4 listagg skips nulls and gives null for no rows, like string_agg. The condition
    goes into the argument (a null is skipped): listagg(distinct …) within group with a
    FILTER clause fails in Spark 4.3 (ClassCastException). PostgreSQL's distinct output
    comes sorted: here the order is explicit. Without order_by the order is the engine's,
    as on PostgreSQL (input order): pass order_by where the order matters. -#}
{% macro spark__text_agg(expression, delimiter, order_by, distinct, where) -%}
    {%- set argument = ('case when ' ~ where ~ ' then ' ~ expression ~ ' end')
        if where else expression -%}
    listagg(
        {{- 'distinct ' if distinct }}{{ argument }}, {{ delimiter }})
    {%- if distinct %} within group (order by {{ argument }} asc nulls last)
    {%- elif order_by %} within group (order by {{ tallyhouse._spark_pg_order(order_by) }})
    {%- endif %}
{%- endmacro %}

{#- The group's distinct values as a sorted array. -#}
{% macro array_of_distinct(expression) -%}
    {{ return(adapter.dispatch('array_of_distinct', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__array_of_distinct(expression) -%}
    array_agg(distinct {{ expression }} order by {{ expression }})
{%- endmacro %}

{#- Spark: collect_set drops nulls, PostgreSQL keeps one (sorted last); null for no rows. -#}
{% macro spark__array_of_distinct(expression) -%}
    case when count(1) > 0 then concat(
        array_sort(collect_set({{ expression }})),
        case when count({{ expression }}) < count(1) then array(null) else array() end
    ) end
{%- endmacro %}

{#- The value of `expression` on the group's first row in `order_by` (SQL, without
    "order by"; a null there is returned as it is). -#}
{% macro first_in_order(expression, order_by) -%}
    {{ return(adapter.dispatch('first_in_order', 'tallyhouse')(expression, order_by)) }}
{%- endmacro %}

{% macro postgres__first_in_order(expression, order_by) -%}
    (array_agg(
        {{ expression }}
        order by {{ order_by }}
    ))[1]
{%- endmacro %}

{#- Spark: the group's rows as structs sorted by a comparator that orders nulls as
    PostgreSQL does (last ascending, first descending); try_element_at gives null for no
    rows whatever the ANSI mode. -#}
{% macro spark__first_in_order(expression, order_by) -%}
    {%- set items = tallyhouse._spark_order_items(order_by) -%}
    try_element_at(array_sort(
        collect_list(named_struct('v', {{ expression }}
            {%- for item in items %}, 'k{{ loop.index0 }}', {{ item.expression }}{% endfor -%}
        )),
        (_l, _r) -> {{ tallyhouse._spark_comparator(items) }}
    ), 1).v
{%- endmacro %}


{#- ------------------------------------------------------ Spark: PostgreSQL's order -#}

{#- The items of an ORDER BY list (SQL, without "order by"): [{expression, descending,
    nulls}] split at the commas outside parentheses and quotes; nulls is 'first', 'last'
    or none (PostgreSQL's default then: last ascending, first descending). -#}
{% macro _spark_order_items(order_by) -%}
    {%- set state = namespace(depth=0, quote=none, current='', pieces=[]) -%}
    {%- for character in order_by -%}
        {%- if state.quote -%}
            {%- if character == state.quote %}{% set state.quote = none %}{% endif -%}
        {%- elif character in ("'", '"', '`') -%}
            {%- set state.quote = character -%}
        {%- elif character == '(' -%}
            {%- set state.depth = state.depth + 1 -%}
        {%- elif character == ')' -%}
            {%- set state.depth = state.depth - 1 -%}
        {%- endif -%}
        {%- if character == ',' and state.depth == 0 and not state.quote -%}
            {%- set state.pieces = state.pieces + [state.current] -%}
            {%- set state.current = '' -%}
        {%- else -%}
            {%- set state.current = state.current ~ character -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set pieces = state.pieces + [state.current] -%}
    {%- set items = [] -%}
    {%- for piece in pieces if piece.strip() -%}
        {%- set words = piece.strip().split() -%}
        {%- set nulls = none -%}
        {%- if words | length > 2 and words[-2] | lower == 'nulls'
              and words[-1] | lower in ('first', 'last') -%}
            {%- set nulls = words[-1] | lower -%}
            {%- set words = words[:-2] -%}
        {%- endif -%}
        {%- set descending = false -%}
        {%- if words | length > 1 and words[-1] | lower in ('asc', 'desc') -%}
            {%- set descending = words[-1] | lower == 'desc' -%}
            {%- set words = words[:-1] -%}
        {%- endif -%}
        {%- do items.append({'expression': words | join(' '), 'descending': descending,
                             'nulls': nulls or ('first' if descending else 'last')}) -%}
    {%- endfor -%}
    {{ return(items) }}
{%- endmacro %}

{#- An ORDER BY list with PostgreSQL's null order made explicit (Spark's default is the
    opposite: nulls first ascending, last descending). -#}
{% macro _spark_pg_order(order_by) -%}
    {%- set written = [] -%}
    {%- for item in tallyhouse._spark_order_items(order_by) -%}
        {%- do written.append(item.expression ~ (' desc' if item.descending else ' asc')
                              ~ ' nulls ' ~ item.nulls) -%}
    {%- endfor -%}
    {{ return(written | join(', ')) }}
{%- endmacro %}

{#- An array_sort comparator over structs _l and _r with fields k0, k1 … in the order of
    `items` (_spark_order_items): -1, 0 or 1. -#}
{% macro _spark_comparator(items) -%}
    {%- set state = namespace(sql='0') -%}
    {%- for item in items | reverse -%}
        {%- set k = 'k' ~ (items | length - loop.index) -%}
        {%- set before, after = ('-1', '1') if not item.descending else ('1', '-1') -%}
        {%- set null_first = item.nulls == 'first' -%}
        {%- set state.sql = 'case when _l.' ~ k ~ ' is null and _r.' ~ k ~ ' is not null then '
            ~ ('-1' if null_first else '1')
            ~ ' when _l.' ~ k ~ ' is not null and _r.' ~ k ~ ' is null then '
            ~ ('1' if null_first else '-1')
            ~ ' when _l.' ~ k ~ ' < _r.' ~ k ~ ' then ' ~ before
            ~ ' when _l.' ~ k ~ ' > _r.' ~ k ~ ' then ' ~ after
            ~ ' else ' ~ state.sql ~ ' end' -%}
    {%- endfor -%}
    {{ return(state.sql) }}
{%- endmacro %}
