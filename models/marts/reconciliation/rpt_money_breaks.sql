-- Invariant 2, money: distributable = offer price - platform fee; producer net =
-- distributable - partner commissions; fee and commission lines sum to the transaction's
-- figures; and no transaction refunded above what the customer paid. One row per break.

-- Every rule is about one transaction: incremental per touched transaction (see
-- forget_touched_transactions), whole on a full refresh.
-- depends_on: {{ ref('int_transactions') }}
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
    {{ rows_of_touched(ref('fct_transactions'), 'transaction_key') }}
),

fee_lines as (
    {{ rows_of_touched(ref('fct_transaction_fees'), 'transaction_key') }}
),

commission_lines as (
    {{ rows_of_touched(ref('fct_commissions'), 'transaction_key') }}
),

fees as (
    -- fct_transaction_fees is the transaction's own fee, in its currency
    select
        transaction_key,
        sum(amount) as amount
    from fee_lines
    group by transaction_key
),

-- only commission lines in the sale's currency add up to the sale's figures; a line in
-- another currency is a currency_mismatch below, and the sums it belongs to are not
-- compared (never money of two currencies in one sum, no difference claimed that is only
-- a currency)
commissions as (
    select
        commission_lines.transaction_key,
        coalesce({{ sum_where('commission_lines.amount',
                              "commission_lines.role in ('coproducer', 'affiliate') "
                              ~ "and commission_lines.currency_code = transactions.currency_code")
        }}, 0) as partners,
        coalesce({{ sum_where('commission_lines.amount',
                              "commission_lines.role = 'producer' "
                              ~ "and commission_lines.currency_code = transactions.currency_code")
        }}, 0) as producer,
        {{ count_where("commission_lines.role in ('coproducer', 'affiliate', 'producer') "
                       ~ "and commission_lines.currency_code "
                       ~ "is distinct from transactions.currency_code") }} as foreign_lines
    from commission_lines
    inner join transactions on commission_lines.transaction_key = transactions.transaction_key
    group by commission_lines.transaction_key
),

figures as {{ materialized_hint() }} (
    select
        transactions.transaction_key,
        transactions.platform,
        transactions.platform_transaction_id,
        transactions.currency_code,
        transactions.offer_price,
        transactions.platform_fee_amount,
        transactions.distributable_amount,
        transactions.partner_commission_amount,
        transactions.producer_net_amount,
        coalesce(fees.amount, 0) as fee_lines,
        coalesce(commissions.partners, 0) as partner_lines,
        coalesce(commissions.producer, 0) as producer_line,
        coalesce(commissions.foreign_lines, 0) = 0 as commission_lines_comparable
    from transactions
    left join fees on transactions.transaction_key = fees.transaction_key
    left join commissions on transactions.transaction_key = commissions.transaction_key
),

-- one pass over the transactions: each rule is a row of the lateral list
formulas as (
    select
        figures.transaction_key,
        'money_formulas' as check_name,
        rule.break_kind,
        'transaction' as entity_type,
        figures.platform_transaction_id as entity_id,
        figures.platform,
        figures.currency_code as unit,
        -- amounts and sums of lines: numeric(38, 2), like every reconciliation report
        cast(rule.expected as {{ type_money_total() }}) as expected,
        cast(rule.actual as {{ type_money_total() }}) as actual,
        cast(abs(rule.actual - rule.expected) as {{ type_money_total() }}) as amount_at_stake,
        rule.detail
    from figures
    {{ join_values('rule', ['break_kind', 'expected', 'actual', 'comparable', 'detail'], [
        ["'distributable_formula'",
         'figures.offer_price - figures.platform_fee_amount',
         'figures.distributable_amount', 'true',
         "'distributable_amount = offer_price - platform_fee_amount'"],
        ["'producer_net_formula'",
         'figures.distributable_amount - figures.partner_commission_amount',
         'figures.producer_net_amount', 'true',
         "'producer_net_amount = distributable_amount - partner_commission_amount'"],
        ["'fee_lines_differ'", 'figures.platform_fee_amount', 'figures.fee_lines', 'true',
         "'fct_transaction_fees lines sum to platform_fee_amount'"],
        ["'commission_lines_differ'", 'figures.partner_commission_amount',
         'figures.partner_lines', 'figures.commission_lines_comparable',
         "'co-producer and affiliate lines of fct_commissions sum to '
         || 'partner_commission_amount'"],
        ["'producer_line_differs'", 'figures.producer_net_amount', 'figures.producer_line',
         'figures.commission_lines_comparable',
         "'the producer line of fct_commissions equals producer_net_amount'"],
    ]) }}
    where rule.comparable and rule.expected <> rule.actual
),

-- a fee or commission line in another currency than the sale: it cannot be subtracted
-- from the sale's price; the line's amount is at stake, in its own currency
currency_mismatches as (
    select
        transactions.transaction_key,
        'money_formulas' as check_name,
        'currency_mismatch' as break_kind,
        'transaction' as entity_type,
        transactions.platform_transaction_id as entity_id,
        transactions.platform,
        commissions.currency_code as unit,
        cast(0 as {{ type_money_total() }}) as expected,
        cast(commissions.amount as {{ type_money_total() }}) as actual,
        cast(abs(commissions.amount) as {{ type_money_total() }}) as amount_at_stake,
        {{ format_text(
            "'%s line of %s %s on a sale in %s'", 'commissions.raw_role', 'commissions.amount',
            'commissions.currency_code', 'transactions.currency_code'
        ) }} as detail
    from commission_lines as commissions
    inner join transactions on commissions.transaction_key = transactions.transaction_key
    where commissions.currency_code is distinct from transactions.currency_code
),

refunds_above_paid as (
    select
        transaction_key,
        'refund_above_paid' as check_name,
        'refund_above_paid' as break_kind,
        'transaction' as entity_type,
        platform_transaction_id as entity_id,
        platform,
        currency_code as unit,
        cast(customer_paid_amount as {{ type_money_total() }}) as expected,
        cast(refunded_amount as {{ type_money_total() }}) as actual,
        cast(refunded_amount - customer_paid_amount as {{ type_money_total() }}) as amount_at_stake,
        'refunded more than the customer paid' as detail
    from transactions
    where refunded_amount > customer_paid_amount
)

select * from formulas
union all
select * from currency_mismatches
union all
select * from refunds_above_paid
