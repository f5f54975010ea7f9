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
