{#- Keys: how the marts name a transaction, a product, a row made of several columns, and a
    raw record. Keys are md5 hex text (dbt.hash: the same 32 characters on every warehouse
    that has md5 — PostgreSQL, Spark, Snowflake …). -#}

{#- The key of a platform transaction across the marts. -#}
{% macro transaction_key(platform, platform_transaction_id) -%}
    {{ dbt.hash(platform ~ " || ':' || " ~ platform_transaction_id) }}
{%- endmacro %}

{#- A surrogate key from columns (what dbt_utils.generate_surrogate_key does), unambiguous
    whatever the values hold: each value's '~', '|' and '∅' are escaped with a '~' before
    the values are joined by '|', and a null is a bare '∅' — so ('X|P1', 'P2') and
    ('X', 'P1|P2'), or a null and the text '∅', never make the same key (a primary key a
    payout file could break). No backslash: Spark reads one in a literal as an escape. -#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- set text = "cast(" ~ column ~ " as " ~ type_text() ~ ")" -%}
        {%- do parts.append("coalesce(replace(replace(replace(" ~ text
            ~ ", '~', '~~'), '|', '~|'), '∅', '~∅'), '∅')") -%}
    {%- endfor -%}
    {{ dbt.hash("concat_ws('|', " ~ parts | join(', ') ~ ")") }}
{%- endmacro %}

{#- The key of a product across platforms: its normalized name (a record whose product
    has no readable name is one product, "(product not named)", not a null key). -#}
{% macro product_key(product_name) -%}
    {{ dbt.hash("lower(trim(coalesce(" ~ product_name ~ ", '(product not named)')))") }}
{%- endmacro %}

{#- Bytes (raw's record hash) as lowercase hex text, the form every mart keeps. -#}
{% macro bytes_to_hex(expression) -%}
    {{ return(adapter.dispatch('bytes_to_hex', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__bytes_to_hex(expression) -%}
    encode({{ expression }}, 'hex')
{%- endmacro %}

{% macro spark__bytes_to_hex(expression) -%}
    lower(hex({{ expression }}))
{%- endmacro %}
