-- The purchase events of the own store's PIX checkout: each Braspag payment snapshot with
-- its order's totals and gift-card part (the order's latest snapshot), in the columns of a
-- purchase event stream (macros/purchase_events.sql). A view: the unified events read the
-- touched transactions' rows through it, by the staging tables' indexes.
{{ config(materialized='view') }}

{#- the split's subordinates, one commission line each (a PIX payment without split:
    none) -#}
{%- set subordinate_line = json_object_of({
    'raw_role': "'subordinate'",
    'amount': 'cast(' ~ json_text('line.value', 'amount') ~ ' as ' ~ type_money() ~ ')',
    'currency_code': 'payments.currency_code',
    'participant': json_text('line.value', 'participant'),
}) %}
{%- set subordinate_lines %}
    {% call json_elements_scalar('payments.subordinate_lines', 'line',
            {'lines': {'kind': 'collect', 'value': subordinate_line,
                       'order_by': json_text('line.value', 'participant')}},
            result='case when payments.has_split then coalesce(lines, ' ~ json_empty_array()
                ~ ') else ' ~ json_empty_array() ~ ' end') -%}
    case when payments.has_split then coalesce((
        select
            {{ json_collect(json_object_of({
                'raw_role': "'subordinate'",
                'amount': 'cast(' ~ json_text('line.value', 'amount') ~ ' as '
                    ~ type_money() ~ ')',
                'currency_code': 'payments.currency_code',
                'participant': json_text('line.value', 'participant'),
            }), order_by=json_text('line.value', 'participant')) }}
        from {{ json_elements('payments.subordinate_lines', 'line') }}
    ), {{ json_empty_array() }}) else {{ json_empty_array() }} end
    {%- endcall %}
{%- endset %}

with

payments as (
    select * from {{ ref('stg_pix__payment_events') }}
),

orders as (
    select * from {{ ref('int_pix__orders_latest') }}
),

final as (
    select
        payments.record_hash,
        payments.source_file,
        payments.source_line,
        -- an order snapshot that lands after its payment changes the transaction: the
        -- event counts as loaded then, so incremental models recompute the transaction
        greatest(payments._load_seq, orders._load_seq) as _load_seq,
        payments.platform,
        payments.source_event_id,
        payments.event_name,
        payments.event_at,
        payments.platform_transaction_id,
        -- all the PIX voided while a gift card paid the rest: the order is partly refunded
        case
            when payments.raw_status = '2:voided_whole' and orders.giftcard_amount > 0
                then '2:partial_refund'
            else payments.raw_status
        end as raw_status,
        payments.raw_payment_method,
        1 as installments_number,
        payments.currency_code,
        -- Until the order itself is delivered, the PIX payment is all that is known.
        coalesce(orders.order_total_amount, payments.pix_amount) as base_price,
        coalesce(orders.order_total_amount, payments.pix_amount) as offer_price,
        coalesce(orders.order_total_amount, payments.pix_amount) as customer_paid_amount,
        cast(0 as {{ type_money() }}) as platform_fee_amount,
        cast(0 as {{ type_money() }}) as coproducer_commission_amount,
        coalesce(payments.subordinate_amount, 0) as affiliate_commission_amount,
        coalesce(orders.order_total_amount, payments.pix_amount)
        - coalesce(payments.subordinate_amount, 0) as reported_producer_amount,
        {{ json_array_concat(json_array_of([json_object_of({
            'raw_role': "'master'",
            'amount': 'coalesce(orders.order_total_amount, payments.pix_amount)'
                ~ ' - coalesce(payments.subordinate_amount, 0)',
            'currency_code': 'payments.currency_code',
            'participant': "'store'",
        })]), subordinate_lines) }} as commission_lines,
        7 as warranty_days,
        payments.ordered_at,
        payments.approved_at,
        cast(null as {{ type_timestamp() }}) as warranty_expires_at,
        payments.customer_email,
        payments.customer_name,
        payments.customer_document,
        {{ json_text('orders.items', 0, 'productId') }} as platform_product_id,
        coalesce(
            {{ json_text('orders.items', 0, 'name') }}, '(order not delivered yet)'
        ) as product_name,
        {{ json_text('orders.items', 0, 'productId') }} as product_sku,
        cast(null as {{ type_text() }}) as offer_code,
        cast(null as {{ type_text() }}) as coupon_code,
        false as is_subscription,
        cast(null as {{ type_text() }}) as platform_subscription_id,
        cast(null as {{ type_text() }}) as plan_id,
        cast(null as {{ type_text() }}) as plan_name,
        cast(null as {{ type_int() }}) as recurrence_number,
        cast(null as {{ type_text() }}) as tracking_source,
        cast(null as {{ type_text() }}) as tracking_sck,
        cast(null as {{ type_text() }}) as utm_source,
        cast(null as {{ type_text() }}) as utm_medium,
        cast(null as {{ type_text() }}) as utm_campaign,
        case
            when payments.raw_status = '11' and payments.voided_amount > 0
                then payments.voided_amount
            when payments.raw_status = '11' then payments.pix_amount
            when payments.raw_status in ('2:partial_refund', '2:voided_whole')
                then payments.voided_amount
        end as refund_amount
    from payments
    left join orders
        on payments.platform_transaction_id = orders.order_id
)

select * from final
