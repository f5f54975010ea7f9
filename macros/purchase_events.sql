{#
    Every purchase event of every platform in one shape: the body of
    int_transaction_events_unioned, and of int_transaction_events_mapped's incremental
    build, which restricts it to some transactions or event ids:

    transactions: a relation of (platform, platform_transaction_id) whose events are wanted;
    event_ids: a relation of (platform, source_event_id) whose deliveries are wanted.
    Each stream's relation is then read by its indexes, never whole.

    The streams are the registry's (purchase_streams(), macros/registry.sql): a reader with
    `purchase_events` in dbt_project.yml. A stream's relation has the columns below and
    refund_amount (the amount a refund event says was refunded; null when it says none);
    its `where`, if any, keeps the rows that are purchase events. is_snapshot is the
    stream's `snapshot`: its rows are a sale's state when a sales API page was fetched
    (event_at = the fetch time), not events the platform sent. A platform may have several
    streams (its webhooks and its sales API): a sale known from both is one transaction,
    its events from every stream in one history.
#}

{#- The columns every purchase event stream gives (refund_amount and is_snapshot besides). -#}
{% macro purchase_event_columns() -%}
    {{ return([
        'record_hash',
        'source_file',
        'source_line',
        '_load_seq',
        'platform',
        'source_event_id',
        'event_name',
        'event_at',
        'platform_transaction_id',
        'raw_status',
        'raw_payment_method',
        'installments_number',
        'currency_code',
        'base_price',
        'offer_price',
        'customer_paid_amount',
        'platform_fee_amount',
        'coproducer_commission_amount',
        'affiliate_commission_amount',
        'reported_producer_amount',
        'commission_lines',
        'warranty_days',
        'ordered_at',
        'approved_at',
        'warranty_expires_at',
        'customer_email',
        'customer_name',
        'customer_document',
        'platform_product_id',
        'product_name',
        'product_sku',
        'offer_code',
        'coupon_code',
        'is_subscription',
        'platform_subscription_id',
        'plan_id',
        'plan_name',
        'recurrence_number',
        'tracking_source',
        'tracking_sck',
        'utm_source',
        'utm_medium',
        'utm_campaign'
    ]) }}
{%- endmacro %}

{% macro purchase_events(transactions=none, event_ids=none) %}
    {% set event_columns = purchase_event_columns() | join(',\n            ') %}

    with

    {% for stream in purchase_streams() %}
    {{ stream.model }} as (
        select
            {{ event_columns }},
            refund_amount,
            {{ 'true' if stream.snapshot else 'false' }} as is_snapshot
        from {{ ref(stream.events) }} as events
        where
            {%- if stream.where %}
            ({{ stream.where }}) and
            {%- endif %}
            {{ _events_of(stream.platform, transactions, event_ids) }}
    ),

    {% endfor %}
    unioned as (
        {%- for stream in purchase_streams() %}
        {%- if not loop.first %}
        union all
        {%- endif %}
        select * from {{ stream.model }}
        {%- endfor %}
    )

    -- A record without a transaction id or an event time cannot be placed in a transaction's
    -- history; rpt_data_issues lists it with its file, line and the field that is missing.
    select * from unioned
    where platform_transaction_id is not null and event_at is not null
{% endmacro %}

{% macro _events_of(platform, transactions, event_ids) -%}
    {%- if transactions -%}
        {{ in_rows_of('events.platform_transaction_id', transactions, 'platform_transaction_id',
                      "wanted.platform = '" ~ platform ~ "'") }}
    {%- elif event_ids -%}
        {{ in_rows_of('events.source_event_id', event_ids, 'source_event_id',
                      "wanted.platform = '" ~ platform ~ "'") }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
