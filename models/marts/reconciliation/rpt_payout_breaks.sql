-- Invariant 4 (platform vs payouts): each sale line pays what the platform reports as the
-- producer's net (PIX: the master's share of the PIX part); every line is for a known
-- transaction; an approved sale is paid out once its money is released, and once only.
-- One row per break; empty when the books agree.

-- Incremental by transaction: the breaks of the transactions computed again since the
-- last build and of those with a payout line loaded since are forgotten (pre-hook) and
-- computed again, with those of lines of no transaction id (few); every other row stays.
-- One rule is not about one transaction alone: "approved, never paid" counts two weekly
-- payouts as of the last payout date — a build after a line that moves that date computes
-- every break again (payout_breaks_built_whole).
-- depends_on: {{ ref('int_transactions') }}
-- depends_on: {{ ref('stg_payouts__lines') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['platform_transaction_id']}],
          pre_hook="{{ forget_payout_breaks() }}",
          post_hook="{{ record_raw_watermark([source('payouts', 'payout_lines')],
                                             built_from=[ref('int_transactions')]) }}") }}

{%- set whole = payout_breaks_built_whole() %}

with

{% if not whole %}
    touched as (
        {{ touched_payout_transactions_since_build() }}
    ),
{% endif %}

lines as (
    {{ rows_of_touched_payout_transactions(ref('fct_payouts'), whole) }}
),

transactions as (
    select * from {{ ref('fct_transactions') }}
    where {{ 'true' if whole else 'transaction_key in (select transaction_key from touched)' }}
),

pix_orders as (
    select * from {{ ref('int_pix__orders_latest') }}
),

-- over every line, whatever this build computes again
as_of as (
    select max(payout_date) as last_payout_date from {{ ref('fct_payouts') }}
),

expected_nets as (
    select
        transactions.transaction_key,
        transactions.platform,
        transactions.platform_transaction_id,
        transactions.currency_code,
        transactions.producer_net_amount - coalesce(pix_orders.giftcard_amount, 0)
            as expected_payout_amount,
        -- When the platform releases the money: PIX settles on D+2; the marketplaces the
        -- day after the guarantee, counted from the approval (Hotmart dates its guarantee
        -- from the order, so a boleto paid days later is still under guarantee).
        case
            when transactions.platform = 'pix'
                then {{ dbt.dateadd('day', 2, 'transactions.approved_at') }}
            when transactions.platform = 'hotmart'
                then {{ dbt.dateadd('day', 1, 'transactions.approved_at + '
                    ~ elapsed_not_negative('transactions.ordered_at',
                                           'transactions.warranty_expires_at')) }}
            else {{ dbt.dateadd(
                'day', 1, 'greatest(transactions.warranty_expires_at, transactions.approved_at)'
            ) }}
        end as released_at,
        transactions.refund_settled_at,
        transactions.refund_kind,
        transactions.has_been_approved
    from transactions
    left join pix_orders
        on
            transactions.platform = 'pix'
            and transactions.platform_transaction_id = pix_orders.order_id
),

sales as (
    select
        transaction_key,
        sum(amount) as paid_amount,
        min(payout_id) as payout_id
    from lines
    where line_type = 'sale'
    group by transaction_key
),

amount_mismatches as (
    select
        'payout_amount_mismatch' as check_name,
        lines.platform,
        lines.currency_code,
        lines.payout_id,
        lines.platform_transaction_id,
        expected_nets.expected_payout_amount as expected,
        lines.amount as actual
    from lines
    inner join expected_nets on lines.transaction_key = expected_nets.transaction_key
    where
        lines.line_type = 'sale'
        and lines.amount <> expected_nets.expected_payout_amount
        and lines.currency_code = expected_nets.currency_code
),

-- a line paid in another currency than the sale's: nothing of that currency was due
currency_mismatches as (
    select
        'payout_currency_mismatch' as check_name,
        lines.platform,
        lines.currency_code,
        lines.payout_id,
        lines.platform_transaction_id,
        cast(0 as {{ type_money() }}) as expected,
        lines.amount as actual
    from lines
    inner join expected_nets on lines.transaction_key = expected_nets.transaction_key
    where lines.currency_code is distinct from expected_nets.currency_code
),

unknown_transactions as (
    select
        'payout_unknown_transaction' as check_name,
        platform,
        currency_code,
        payout_id,
        platform_transaction_id,
        cast(0 as {{ type_money() }}) as expected,
        amount as actual
    from lines
    where transaction_key is null
),

unpaid as (
    select
        'approved_never_paid' as check_name,
        expected_nets.platform,
        expected_nets.currency_code,
        cast(null as {{ type_text() }}) as payout_id,
        expected_nets.platform_transaction_id,
        expected_nets.expected_payout_amount as expected,
        cast(0 as {{ type_money() }}) as actual
    from expected_nets
    cross join as_of
    left join sales on expected_nets.transaction_key = sales.transaction_key
    where
        expected_nets.has_been_approved
        and sales.transaction_key is null
        -- a marketplace refund happens within the guarantee: that money is never paid
        and not (
            expected_nets.platform <> 'pix'
            and coalesce(expected_nets.refund_kind in ('refund', 'partial_refund'), false)
        )
        and (
            expected_nets.refund_settled_at is null
            or expected_nets.refund_settled_at > expected_nets.released_at
        )
        -- released, and two weekly payouts have passed since
        and {{ dbt.dateadd('day', 14, business_date('expected_nets.released_at')) }}
        < as_of.last_payout_date
),

-- a sale paid in more than one payout line (in its currency): what was paid more than
-- once is at stake; every payout it was paid in, listed
paid_twice as (
    select
        'paid_out_twice' as check_name,
        platform,
        currency_code,
        {{ text_agg('payout_id', "', '", order_by='payout_id') }} as payout_id,
        platform_transaction_id,
        min(amount) as expected,
        sum(amount) as actual
    from lines
    where line_type = 'sale' and transaction_key is not null
    group by platform, platform_transaction_id, currency_code
    having count(*) > 1
),

breaks as (
    select * from amount_mismatches
    union all
    select * from currency_mismatches
    union all
    select * from unknown_transactions
    union all
    select * from unpaid
    union all
    select * from paid_twice
)

select
    -- unique whatever the data: the same line may be reported twice, an id may be missing
    {{ surrogate_key([
        'check_name', 'platform', 'platform_transaction_id', 'payout_id',
        'row_number() over (partition by check_name, platform, platform_transaction_id, '
        ~ 'payout_id order by expected, actual)'
    ]) }} as break_key,
    check_name,
    platform,
    currency_code,
    payout_id,
    platform_transaction_id,
    -- amounts, and money at stake: numeric(38, 2), like every reconciliation report
    cast(expected as {{ type_money_total() }}) as expected,
    cast(actual as {{ type_money_total() }}) as actual,
    cast(actual - expected as {{ type_money_total() }}) as difference
from breaks
