-- Incremental: a transaction with a record loaded since the last build (by load number)
-- is computed again, and so is one whose warranty ended between the previous "now" and
-- this one (its under_warranty flips). A changed project is built with --full-refresh.
-- Built after dim_products, which reads the products the transactions had here before
-- (touched_products_since_build):
-- depends_on: {{ ref('dim_products') }}
{{ config(materialized='incremental', unique_key='transaction_key',
          incremental_strategy=replace_by_key(), partition_by=key_buckets(),
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['transaction_key']}, {'columns': ['order_date']},
                   {'columns': ['last_event_at']}],
          post_hook=["{{ record_watermark(ref('int_transactions')) }}",
                     "{{ partial_index('platform_subscription_id',
                                       'platform_subscription_id is not null') }}"]) }}

with

-- int_transactions is read directly in each place (a CTE read twice would be computed
-- whole, a million rows, before anything is filtered)
as_of as (
    -- "Now" for the warehouse is its latest event, so a rebuild gives the same marts.
    select max(last_event_at) as data_as_of from {{ ref('int_transactions') }}
),

{% if is_incremental() %}
    -- the bounds are values read once (by the last_event_at and warranty_expires_at
    -- indexes), so that the few rows are read by index
    transactions as (
        select all_transactions.*
        from {{ ref('int_transactions') }} as all_transactions
        where
            all_transactions.last_load_seq > {{ watermark() }}
            or (
                all_transactions.warranty_expires_at
                > (select max(previous.last_event_at) from {{ this }} as previous)
                and all_transactions.warranty_expires_at
                <= (select as_of.data_as_of from as_of)
            )
    ),
{% else %}
    transactions as (
        select * from {{ ref('int_transactions') }}
    ),
{% endif %}

final as (
    select
        transactions.transaction_key,
        transactions.platform,
        transactions.platform_transaction_id,
        transactions.status,
        transactions.raw_status,
        transactions.is_sale,
        transactions.has_been_approved,
        transactions.payment_method,
        transactions.raw_payment_method,
        transactions.payment_type,
        transactions.installments_number,
        transactions.currency_code,
        -- every amount of one sale: numeric(18, 2) (int_transactions computes some)
        cast(transactions.base_price as {{ type_money() }}) as base_price,
        cast(transactions.offer_price as {{ type_money() }}) as offer_price,
        cast(transactions.customer_paid_amount as {{ type_money() }}) as customer_paid_amount,
        cast(transactions.platform_fee_amount as {{ type_money() }}) as platform_fee_amount,
        cast(transactions.distributable_amount as {{ type_money() }}) as distributable_amount,
        cast(transactions.partner_commission_amount as {{ type_money() }})
            as partner_commission_amount,
        cast(transactions.coproducer_commission_amount as {{ type_money() }})
            as coproducer_commission_amount,
        cast(transactions.affiliate_commission_amount as {{ type_money() }})
            as affiliate_commission_amount,
        cast(transactions.producer_net_amount as {{ type_money() }}) as producer_net_amount,
        cast(transactions.reported_producer_amount as {{ type_money() }})
            as reported_producer_amount,
        cast(transactions.refunded_amount as {{ type_money() }}) as refunded_amount,
        transactions.refund_kind,
        transactions.ordered_at,
        {{ business_date('transactions.ordered_at') }} as order_date,
        transactions.approved_at,
        transactions.refund_settled_at,
        transactions.is_subscription,
        case
            when transactions.platform_subscription_id is not null then
                {{ dbt.hash(
                    "transactions.platform || ':' || transactions.platform_subscription_id"
                ) }}
        end as subscription_key,
        transactions.platform_subscription_id,
        transactions.plan_id,
        transactions.plan_name,
        transactions.recurrence_number,
        transactions.warranty_expires_at,
        coalesce(transactions.warranty_expires_at > as_of.data_as_of, false)
        and transactions.is_sale as under_warranty,
        transactions.tracking_source,
        transactions.tracking_sck,
        transactions.utm_source,
        transactions.utm_medium,
        transactions.utm_campaign,
        {{ person_key('transactions.customer_email') }} as customer_key,
        {{ product_key('transactions.product_name') }}
            as product_key,
        transactions.platform_product_id,
        transactions.has_been_disputed,
        transactions.has_invalid_transition,
        transactions.is_unmapped_status,
        transactions.is_unmapped_payment_method,
        transactions.status_changes,
        transactions.last_event_at
    from transactions
    cross join as_of
)

select * from final
