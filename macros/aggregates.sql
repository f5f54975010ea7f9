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

{#- The group's distinct values as a sorted array. -#}
{% macro array_of_distinct(expression) -%}
    {{ return(adapter.dispatch('array_of_distinct', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__array_of_distinct(expression) -%}
    array_agg(distinct {{ expression }} order by {{ expression }})
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
