{#
    Pseudonymous person keys (see tallyhouse/pseudonym.py and README "Data protection").

    keyed_hash(text): HMAC-SHA256 under the warehouse's pseudonym key, whose pads the session
    carries as settings (never written into compiled SQL); 32 hex characters.
    person_key(email): the key of the person with that e-mail. An erased e-mail
    (<key>@erased.invalid) keeps the key it had; an e-mail delivered again after its person
    was erased is a new person (its erasure count salts the hash).
#}

{% macro keyed_hash(text_expression) %}
    {{- return(adapter.dispatch('keyed_hash', 'tallyhouse')(text_expression)) -}}
{% endmacro %}

{% macro postgres__keyed_hash(text_expression) -%}
    left(encode(sha256(
        decode(current_setting('tallyhouse.key_opad'), 'hex')
        || sha256(decode(current_setting('tallyhouse.key_ipad'), 'hex')
            || convert_to({{ text_expression }}, 'UTF8'))
    ), 'hex'), 32)
{%- endmacro %}

{#- Spark: the pads are session variables (profile server_side_parameters
    tallyhouse.key_opad / tallyhouse.key_ipad), substituted by Spark into ${…} before the
    statement is parsed. A session without them (dbt run on Spark without tallyhouse's
    environment: the profile's default is empty; Spark substitutes '' for an unknown
    variable) would hash with empty pads — keys anyone could recompute from an e-mail — or,
    with a malformed pad, give every person a null key: a row that needs a key fails the
    statement instead. (PostgreSQL refuses by itself: current_setting of an unset name
    raises.) Never in a view: a stored view's text would hold the pads themselves. -#}
{% macro spark__keyed_hash(text_expression) -%}
    {%- if model is defined and model.config is defined
          and model.config.get('materialized') == 'view' -%}
        {{ exceptions.raise_compiler_error(
            "keyed_hash in a view on Spark would store the pseudonym key's pads in the "
            ~ "view's text: materialize " ~ model.name ~ " as a table") }}
    {%- endif -%}
    left(sha2(
        concat({{ tallyhouse._spark_pad('key_opad') }},
               unhex(sha2(concat({{ tallyhouse._spark_pad('key_ipad') }},
                                 encode({{ text_expression }}, 'UTF-8')), 256)))
    , 256), 32)
{%- endmacro %}

{% macro _spark_pad(name) -%}
    unhex(case
        when length('${tallyhouse.{{ name }}}') = 128
            and '${tallyhouse.{{ name }}}' rlike '^[0-9a-f]{128}$'
            then '${tallyhouse.{{ name }}}'
        else raise_error('the pseudonym key is not in this Spark session (tallyhouse.{{ name
            }}): build with tallyhouse run; dbt started without tallyhouse has no key here')
    end)
{%- endmacro %}

{% macro person_key(email) %}
    {{- return(adapter.dispatch('person_key', 'tallyhouse')(email)) -}}
{% endmacro %}

{% macro postgres__person_key(email) -%}
    {%- set normalized = "nullif(lower(trim(" ~ email ~ ")), '')" -%}
    case
        when {{ normalized }} is null then null
        when {{ normalized }} like '%@erased.invalid'
            then split_part({{ normalized }}, '@', 1)
        else coalesce(
            (
                select {{ tallyhouse.keyed_hash(normalized ~ " || '#' || erased.erasures") }}
                from {{ source('restricted', 'erased_subjects') }} as erased
                where erased.subject_key = {{ tallyhouse.keyed_hash(normalized) }}
            ),
            {{ tallyhouse.keyed_hash(normalized) }}
        )
    end
{%- endmacro %}

{#- One row per customer of `transactions` (a CTE with customer_email): the customer
    identity (email) and its person key, computed once per customer rather than once per
    transaction (two hashes and an erasure lookup each). Read it from a materialized CTE:
    folded into a join, PostgreSQL computes the key for every joined row again. -#}
{% macro customer_keys_of(transactions) -%}
    select
        email,
        {{ person_key('email') }} as customer_key
    from (
        select distinct {{ customer_identity('customer_email') }} as email
        from {{ transactions }}
    ) as emails
    where email is not null
{%- endmacro %}

{#- Spark: the erasure count through an aggregated scalar subquery (Spark refuses a
    non-aggregated one, and an aggregate over outer and inner columns together). -#}
{% macro spark__person_key(email) -%}
    {%- set normalized = "nullif(lower(trim(" ~ email ~ ")), '')" -%}
    case
        when {{ normalized }} is null then null
        when {{ normalized }} like '%@erased.invalid'
            then split_part({{ normalized }}, '@', 1)
        else coalesce(
            {{ tallyhouse.spark__keyed_hash(normalized ~ " || '#' || (
                select max(erased.erasures)
                from " ~ source('restricted', 'erased_subjects') ~ " as erased
                where erased.subject_key = " ~ tallyhouse.spark__keyed_hash(normalized) ~ "
            )") }},
            {{ tallyhouse.spark__keyed_hash(normalized) }}
        )
    end
{%- endmacro %}

{#- The restricted schema's bookkeeping of erasures (an on-run-start hook). -#}
{% macro create_privacy_tables() %}
    {{- return(adapter.dispatch('create_privacy_tables', 'tallyhouse')()) -}}
{% endmacro %}

{% macro postgres__create_privacy_tables() %}
    create schema if not exists restricted;
    create table if not exists restricted.erased_subjects (
        subject_key text primary key,
        erasures integer not null default 1
    );
    create table if not exists restricted.erasures (
        erasure_id bigserial primary key,
        erased_at timestamptz not null default now(),
        identifier_kinds text[] not null,
        person_keys text[] not null,
        records_touched jsonb not null,
        record_hashes jsonb not null
    );
{% endmacro %}

{#- Spark: one statement per call (Thrift); a database is a schema; no keys or defaults
    (the application writes erasure_id and erased_at). -#}
{% macro spark__create_privacy_tables() %}
    {%- if execute %}
    {%- do run_query('create database if not exists restricted') %}
    {%- do run_query('create table if not exists restricted.erased_subjects ('
        ~ 'subject_key string, erasures int) using parquet') %}
    {%- do run_query('create table if not exists restricted.erasures ('
        ~ 'erasure_id bigint, erased_at timestamp, identifier_kinds array<string>, '
        ~ 'person_keys array<string>, records_touched string, record_hashes string) '
        ~ 'using parquet') %}
    {%- endif %}
{% endmacro %}
