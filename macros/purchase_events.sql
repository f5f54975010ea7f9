{#
    Every purchase event of every platform in one shape: the body of
    int_transaction_events_unioned, and of int_transaction_events_mapped's incremental
    build, which restricts it to some transactions or event ids:

    transactions: a relation of (platform, platform_transaction_id) whose events are wanted;
    event_ids: a relation of (platform, source_event_id) whose deliveries are wanted.
    Each platform's staging table is then read by its index, never whole.
#}

{% macro purchase_events(transactions=none, event_ids=none) %}
    {% set event_columns %}
        record_hash,
        source_file,
        source_line,
        _load_seq,
        platform,
        source_event_id,
        event_name,
        event_at,
        platform_transaction_id,
        raw_status,
        raw_payment_method,
        installments_number,
        currency_code,
        base_price,
        offer_price,
        customer_paid_amount,
        platform_fee_amount,
        coproducer_commission_amount,
        affiliate_commission_amount,
        reported_producer_amount,
        commission_lines,
        warranty_days,
        ordered_at,
        approved_at,
        warranty_expires_at,
        customer_email,
        customer_name,
        customer_document,
        platform_product_id,
        product_name,
        product_sku,
        offer_code,
        coupon_code,
        is_subscription,
        platform_subscription_id,
        plan_id,
        plan_name,
        recurrence_number,
        tracking_source,
        tracking_sck,
        utm_source,
        utm_medium,
        utm_campaign
    {% endset %}

    {#- the split's subordinates, one commission line each (a PIX payment without split:
        none) -#}
    {%- set subordinate_lines %}
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
    {%- endset %}

    with

    hotmart as (
        select {{ event_columns }}, cast(null as {{ type_money() }}) as refund_amount
        from {{ ref('stg_hotmart__purchase_events') }} as events
        where {{ _events_of('hotmart', transactions, event_ids) }}
    ),

    kiwify as (
        select {{ event_columns }}, cast(null as {{ type_money() }}) as refund_amount
        from {{ ref('stg_kiwify__order_events') }} as events
        where
            event_name <> 'subscription_canceled'
            and {{ _events_of('kiwify', transactions, event_ids) }}
    ),

    eduzz as (
        select {{ event_columns }}, cast(null as {{ type_money() }}) as refund_amount
        from {{ ref('stg_eduzz__invoice_events') }} as events
        where {{ _events_of('eduzz', transactions, event_ids) }}
    ),

    pix_payments as (
        select * from {{ ref('stg_pix__payment_events') }} as events
        where {{ _events_of('pix', transactions, event_ids) }}
    ),

    pix_orders as (
        select * from {{ ref('int_pix__orders_latest') }}
        {%- if transactions or event_ids %}
        where order_id in (select platform_transaction_id from pix_payments)
        {%- endif %}
    ),

    pix as (
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
        from pix_payments as payments
        left join pix_orders as orders
            on payments.platform_transaction_id = orders.order_id
    ),

    unioned as (
        select * from hotmart
        union all
        select * from kiwify
        union all
        select * from eduzz
        union all
        select * from pix
    )

    -- A record without a transaction id or an event time cannot be placed in a transaction's
    -- history; rpt_data_issues lists it with its file, line and the field that is missing.
    select * from unioned
    where platform_transaction_id is not null and event_at is not null
{% endmacro %}

{% macro _events_of(platform, transactions, event_ids) -%}
    {%- if transactions -%}
        exists (
            select 1 from {{ transactions }} as wanted
            where
                wanted.platform = '{{ platform }}'
                and wanted.platform_transaction_id = events.platform_transaction_id
        )
    {%- elif event_ids -%}
        exists (
            select 1 from {{ event_ids }} as wanted
            where
                wanted.platform = '{{ platform }}'
                and wanted.source_event_id = events.source_event_id
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Whether a raw record of `platform`'s feed is a purchase event (one event of a sale's
    lifecycle): the rule staging reads purchases by and the integrity test checks them
    by. `json`: the record's payload (`delivered=true` for raw's column as delivered). -#}
{% macro is_purchase_event(platform, json, delivered=false) -%}
    {%- if platform == 'hotmart' -%}
        {{ json_text(json, 'event') }} like 'PURCHASE\_%'
        and {{ json_text(json, 'event') }} <> 'PURCHASE_OUT_OF_SHOPPING_CART'
    {%- elif platform == 'kiwify' -%}
        {{ json_type(json, delivered) }} = 'object'
        and {{ json_text(json, 'webhook_event_type') }} <> 'subscription_canceled'
    {%- elif platform == 'eduzz' -%}
        {{ json_text(json, 'type') }} in ('invoice', 'invoice|contract')
    {%- elif platform == 'pix' -%}
        true
    {%- else -%}
        {{ exceptions.raise_compiler_error('no purchase events for ' ~ platform) }}
    {%- endif -%}
{%- endmacro %}
