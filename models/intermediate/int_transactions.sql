-- One row per platform transaction: its attributes from the latest event (by event
-- time), its current status, when it was first approved and what was refunded.

-- Incremental like the status history: transactions with an event loaded since the
-- last build (by load number) are computed again and replace their old row.
{{ config(materialized='incremental', unique_key='transaction_key',
          incremental_strategy=replace_by_key(), partition_by=key_buckets(),
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['transaction_key']}, {'columns': ['last_load_seq']},
                   {'columns': ['last_event_at']}, {'columns': ['warranty_expires_at']}],
          post_hook=["{{ expression_index(product_key('product_name'), 'product_name') }}",
                     "{{ expression_index(customer_identity('customer_email'),
                                          'customer_email') }}"])
}}

with

all_events as (
    select * from {{ ref('int_transaction_events_mapped') }}
),

{% if is_incremental() %}
    touched as (
        {{ touched_transactions(ref('int_transaction_events_mapped')) }}
    ),
{% endif %}

events as (
    {{ rows_of_touched('all_events', 'transaction_key') }}
),

changes as (
    {{ rows_of_touched(ref('int_transaction_status_changes'), 'transaction_key') }}
),

statuses as (
    select * from {{ ref('transaction_statuses') }}
),

latest_event as (
    {{ first_per_key('events', 'transaction_key',
                     order_by='event_at desc, lifecycle_rank desc, record_hash desc') }}
),

lifecycle as (
    select
        transaction_key,
        -- a snapshot's change is when the sale was fetched, not when it was approved:
        -- only an approval the platform reported dates it (else the sale's approved_at)
        {{ min_where('changed_at', "status = 'approved' and not coalesce(is_snapshot, false)") }}
            as first_approved_at,
        {{ dbt.bool_or(
            "status in ('approved', 'complete', 'disputed', 'refunded', 'partially_refunded')"
        ) }} as has_been_approved,
        {{ dbt.bool_or("status = 'disputed'") }} as has_been_disputed,
        {{ min_where('changed_at', "status = 'disputed'") }} as disputed_at,
        {{ max_where('changed_at', "status in ('refunded', 'partially_refunded')") }}
            as refunded_at,
        {{ dbt.bool_or('not is_valid_transition') }} as has_invalid_transition,
        count(*) as status_changes,
        max(last_load_seq) as last_load_seq
    from changes
    group by transaction_key
),

refunds as (
    select
        transaction_key,
        {{ max_where('refund_kind', 'refund_kind is not null') }} as refund_kind,
        max(refund_amount) as reported_refund_amount,
        {{ min_where('event_at', 'refund_kind is not null') }} as refund_settled_at
    from events
    group by transaction_key
),

final as (
    select
        latest_event.transaction_key,
        latest_event.platform,
        latest_event.platform_transaction_id,
        latest_event.status,
        statuses.counts_as_sale as is_sale,
        latest_event.raw_status,
        latest_event.payment_method,
        latest_event.raw_payment_method,
        case
            when latest_event.installments_number > 1 then 'INSTALLMENT_PAYMENT'
            else 'SINGLE_PAYMENT'
        end as payment_type,
        latest_event.installments_number,
        latest_event.currency_code,
        latest_event.base_price,
        latest_event.offer_price,
        latest_event.customer_paid_amount,
        latest_event.platform_fee_amount,
        latest_event.offer_price - latest_event.platform_fee_amount as distributable_amount,
        latest_event.coproducer_commission_amount + latest_event.affiliate_commission_amount
            as partner_commission_amount,
        latest_event.coproducer_commission_amount,
        latest_event.affiliate_commission_amount,
        latest_event.offer_price - latest_event.platform_fee_amount
        - latest_event.coproducer_commission_amount - latest_event.affiliate_commission_amount
            as producer_net_amount,
        latest_event.reported_producer_amount,
        latest_event.commission_lines,
        cast(case
            when refunds.refund_kind in ('refund', 'chargeback')
                then coalesce(refunds.reported_refund_amount, latest_event.customer_paid_amount)
            when refunds.refund_kind = 'partial_refund' then refunds.reported_refund_amount
            else 0
        end as {{ type_money() }}) as refunded_amount,
        refunds.refund_kind,
        refunds.refund_settled_at,
        latest_event.ordered_at,
        coalesce(lifecycle.first_approved_at, latest_event.approved_at) as approved_at,
        lifecycle.has_been_approved,
        lifecycle.has_been_disputed,
        lifecycle.disputed_at,
        lifecycle.has_invalid_transition,
        lifecycle.status_changes,
        latest_event.is_subscription,
        latest_event.platform_subscription_id,
        latest_event.plan_id,
        latest_event.plan_name,
        latest_event.recurrence_number,
        coalesce(
            latest_event.warranty_expires_at,
            {{ dbt.dateadd('day', 'coalesce(latest_event.warranty_days, 7)',
                           'coalesce(lifecycle.first_approved_at, latest_event.approved_at)') }}
        ) as warranty_expires_at,
        latest_event.tracking_source,
        latest_event.tracking_sck,
        latest_event.utm_source,
        latest_event.utm_medium,
        latest_event.utm_campaign,
        latest_event.customer_email,
        latest_event.customer_name,
        latest_event.customer_document,
        latest_event.platform_product_id,
        latest_event.product_name,
        latest_event.product_sku,
        latest_event.offer_code,
        latest_event.coupon_code,
        latest_event.event_at as last_event_at,
        latest_event.is_unmapped_status,
        latest_event.is_unmapped_payment_method,
        lifecycle.last_load_seq
    from latest_event
    left join lifecycle on latest_event.transaction_key = lifecycle.transaction_key
    left join refunds on latest_event.transaction_key = refunds.transaction_key
    left join statuses on latest_event.status = statuses.status_code
)

select * from final
