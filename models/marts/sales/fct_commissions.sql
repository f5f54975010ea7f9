-- Each participant's share of a transaction, as the platform reported it.

-- Incremental per transaction: the lines of the transactions recomputed since the last
-- build are forgotten (pre-hook) and read again; a transaction that lost a line loses it
-- here too.
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['transaction_key']}],
          pre_hook="{{ forget_touched_transactions() }}",
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

{% if is_incremental() %}
    touched as (
        {{ touched_transactions_since_build() }}
    ),
{% endif %}

transactions as (
    {{ rows_of_touched(ref('int_transactions'), 'transaction_key') }}
),

roles as (
    select * from {{ ref('commission_roles') }}
),

lines as (
    select
        transactions.transaction_key,
        transactions.platform,
        transactions.refund_kind,
        {{ business_date('transactions.ordered_at') }} as order_date,
        line.position as line_number,
        {{ json_text('line.value', 'raw_role') }} as raw_role,
        {{ json_text('line.value', 'participant') }} as participant,
        cast({{ json_text('line.value', 'amount') }} as {{ type_money() }}) as amount,
        coalesce({{ json_text('line.value', 'currency_code') }}, transactions.currency_code)
            as currency_code
    from transactions
    {{ join_json_elements('transactions.commission_lines', 'line', position=true) }}
),

final as (
    select
        {{ dbt.hash("lines.transaction_key || ':' || lines.line_number") }} as commission_key,
        lines.transaction_key,
        lines.platform,
        coalesce(roles.role, 'unknown') as role,
        lines.raw_role,
        lines.participant,
        lines.amount,
        lines.currency_code,
        lines.order_date,
        coalesce(lines.refund_kind in ('refund', 'chargeback'), false) as is_reversed
    from lines
    left join roles
        on lines.platform = roles.platform and lines.raw_role = roles.raw_role
)

select * from final
