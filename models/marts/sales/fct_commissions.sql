-- Each participant's share of a transaction, as the platform reported it.

with

transactions as (
    select * from {{ ref('int_transactions') }}
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
        line.value ->> 'raw_role' as raw_role,
        line.value ->> 'participant' as participant,
        (line.value ->> 'amount')::numeric(18, 2) as amount,
        coalesce(line.value ->> 'currency_code', transactions.currency_code) as currency_code
    from transactions
    cross join
        lateral jsonb_array_elements(transactions.commission_lines)
        with ordinality as line (value, position)
),

final as (
    select
        md5(lines.transaction_key || ':' || lines.line_number) as commission_key,
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
