{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['platform_transaction_id']}]) }}

-- Hotmart sales API (GET /payments/api/v1/sales/commissions, `tallyhouse backfill`): one
-- row per record, the commissions of one sale by source (PRODUCER, COPRODUCER, ADDON,
-- AFFILIATE) as the API returned them when its page was fetched. The sale's purchase
-- events (int_hotmart__api_purchase_events) take the latest record of each sale.

{%- set issues = [] %}
{%- set commission_value = money_value(json_text('c.value', 'commission', 'value')) %}
{%- set commission_source = json_text('c.value', 'source') %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('hotmart', 'hotmart_sales_commissions')) }}
),

sales as (
    select
        *,
        {{ json_array(json_get('body', 'commissions'), 'commissions', issues) }}
            as commissions
    from source
    where {{ reader_records(model.name, 'body') }}
),

with_commissions as (
    select
        sales.*,
        commission.*
    from sales
    -- one pass over the commissions array for every figure taken from it
    {% call join_json_aggregates('commission', 'sales.commissions', 'c', {
                 'coproducer_commission_amount': {'kind': 'sum', 'value': commission_value,
                     'where': commission_source ~ " in ('COPRODUCER', 'ADDON')",
                     'result': 'cast(coalesce(coproducer_commission_amount, 0) as '
                         ~ type_money() ~ ')'},
                 'affiliate_commission_amount': {'kind': 'sum', 'value': commission_value,
                     'where': commission_source ~ " = 'AFFILIATE'",
                     'result': 'cast(coalesce(affiliate_commission_amount, 0) as '
                         ~ type_money() ~ ')'},
                 'reported_producer_amount': {'kind': 'sum', 'value': commission_value,
                     'where': commission_source ~ " = 'PRODUCER'",
                     'result': 'cast(reported_producer_amount as '
                         ~ type_money() ~ ')'},
                 'commission_lines': {'kind': 'collect', 'order_by': 'c.position',
                     'value': json_object_of({
                         'raw_role': commission_source,
                         'amount': commission_value,
                         'currency_code': json_text('c.value', 'commission', 'currency_value'),
                         'participant': commission_source,
                     })},
                 'bad_values': {'kind': 'text', 'delimiter': "', '",
                     'value': json_text('c.value', 'commission', 'value'),
                     'where': 'not ' ~ is_money(json_text('c.value', 'commission', 'value'))},
             }) %}
        select
            cast(coalesce({{ sum_where(commission_value,
                                       commission_source ~ " in ('COPRODUCER', 'ADDON')") }}, 0)
                as {{ type_money() }}) as coproducer_commission_amount,
            cast(coalesce({{ sum_where(commission_value,
                                       commission_source ~ " = 'AFFILIATE'") }}, 0)
                as {{ type_money() }}) as affiliate_commission_amount,
            cast({{ sum_where(commission_value, commission_source ~ " = 'PRODUCER'") }}
                as {{ type_money() }}) as reported_producer_amount,
            {{ json_collect(json_object_of({
                'raw_role': commission_source,
                'amount': commission_value,
                'currency_code': json_text('c.value', 'commission', 'currency_value'),
                'participant': commission_source,
            }), order_by='c.position') }} as commission_lines,
            {{ text_agg(json_text('c.value', 'commission', 'value'), "', '",
                        where='not ' ~ is_money(json_text('c.value', 'commission', 'value'))) }}
                as bad_values
        from {{ json_elements('sales.commissions', 'c', position=true) }}
    {% endcall %}
),

renamed as (
    select
        {{ record_lineage() }},
        'hotmart' as platform,
        {{ required(api_fetched_at('_file_name', issues), '_file_name', issues) }}
            as fetched_at,
        {{ required("nullif(" ~ json_text('body', 'transaction') ~ ", '')", 'transaction',
                    issues) }} as platform_transaction_id,
        {%- do _record_issue(issues, 'commissions[].commission.value', 'bad_values',
                             'bad_values is not null',
                             'an element is not an amount (at most 2 decimal places, up to the ' ~ 'ceiling)') %}
        coproducer_commission_amount,
        affiliate_commission_amount,
        reported_producer_amount,
        coalesce(commission_lines, {{ json_empty_array() }}) as commission_lines,
        {{ data_issues_column(issues) }} as data_issues
    from with_commissions
)

select * from renamed
