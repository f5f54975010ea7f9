-- The purchase events of Hotmart's sales API: each sales/history snapshot with the sale's
-- commissions (the latest sales/commissions record of the transaction), in the columns of
-- a purchase event stream (macros/purchase_events.sql). A view: the unified events read
-- the touched transactions' rows through it, by the staging tables' indexes.
{{ config(materialized='view') }}

{#- Hotmart's fee (purchase.hotmart_fee.total) is the MARKETPLACE line, as in the
    webhooks' commissions; then the commissions endpoint's lines -#}
{%- set fee_line %}
    {{ json_array_of([json_object_of({
        'raw_role': "'MARKETPLACE'",
        'amount': 'history.platform_fee_amount',
        'currency_code': 'coalesce(history.fee_currency_code, history.currency_code)',
        'participant': "'MARKETPLACE'",
    })]) }}
{%- endset %}

with

history as (
    select * from {{ ref('stg_hotmart__sales_history') }}
),

commissions as (
    {{ first_per_key(ref('stg_hotmart__sales_commissions'), 'platform_transaction_id',
                     order_by='fetched_at desc, _load_seq desc, record_hash desc',
                     where='platform_transaction_id is not null') }}
),

final as (
    select
        history.record_hash,
        history.source_file,
        history.source_line,
        -- a commissions record that lands after its sale changes the transaction: the
        -- event counts as loaded then, so incremental models recompute the transaction
        greatest(history._load_seq, commissions._load_seq) as _load_seq,
        history.platform,
        history.source_event_id,
        history.event_name,
        history.event_at,
        history.platform_transaction_id,
        history.raw_status,
        history.raw_payment_method,
        history.installments_number,
        history.currency_code,
        -- the history gives one price (no original offer price, no total with interest)
        history.offer_price as base_price,
        history.offer_price,
        history.offer_price as customer_paid_amount,
        history.platform_fee_amount,
        coalesce(commissions.coproducer_commission_amount, 0) as coproducer_commission_amount,
        coalesce(commissions.affiliate_commission_amount, 0) as affiliate_commission_amount,
        commissions.reported_producer_amount,
        case
            when history.platform_fee_amount is null
                then coalesce(commissions.commission_lines, {{ json_empty_array() }})
            else {{ json_array_concat(fee_line, 'coalesce(commissions.commission_lines, '
                                      ~ json_empty_array() ~ ')') }}
        end as commission_lines,
        history.warranty_days,
        history.ordered_at,
        history.approved_at,
        history.warranty_expires_at,
        history.customer_email,
        history.customer_name,
        history.customer_document,
        history.platform_product_id,
        history.product_name,
        history.product_sku,
        history.offer_code,
        history.coupon_code,
        history.is_subscription,
        history.platform_subscription_id,
        history.plan_id,
        history.plan_name,
        history.recurrence_number,
        history.tracking_source,
        history.tracking_sck,
        history.utm_source,
        history.utm_medium,
        history.utm_campaign,
        history.refund_amount
    from history
    left join commissions
        on history.platform_transaction_id = commissions.platform_transaction_id
)

select * from final
