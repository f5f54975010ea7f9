-- Incremental: the records loaded since the last build, each ranked against the record
-- kept for its key (with_superseded_columns); rows built before never change.
{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns') }}

{%- set issues = [] %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('giftcards', 'giftcard_cards')) }}
),

renamed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(" ~ json_text('body', 'id') ~ ", '')", 'id', issues) }} as card_id,
        {{ json_text('body', 'redemptionCode') }} as redemption_code,
        lower({{ json_text('body', 'relationName') }}) as customer_email,
        {{ timestamp(json_text('body', 'emissionDate'), 'emissionDate', issues) }}
            as issued_at,
        {{ timestamp(json_text('body', 'expiringDate'), 'expiringDate', issues) }}
            as expires_at,
        {{ json_text('body', 'caption') }} as caption,
        {{ json_text('body', 'currencyCode') }} as currency_code,
        {{ data_issues_column(issues) }} as data_issues
    from source
),

ranked as (
    {{ with_superseded_columns(
        'renamed',
        ['card_id'],
        ['customer_email', 'currency_code', 'issued_at', 'expires_at'], private=['customer_email']
    ) }}
)

select * from ranked
