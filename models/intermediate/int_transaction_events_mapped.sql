-- Events with their normalized status and payment method (through the seeds), one row per
-- platform event: a webhook redelivered under the same event id counts once.

-- Incremental on the transactions an event was loaded for since the last build: their
-- events are read again, whole, from the staging tables (by index, through the
-- purchase_events macro that int_transaction_events_unioned is made of) and replace the
-- old rows. A redelivery decides between the deliveries of its event id wherever they are,
-- so the transactions holding another delivery of a new event are touched too, and
-- every delivery of the touched transactions' event ids takes part in the choice.
-- depends_on: {{ ref('stg_hotmart__purchase_events') }}
-- depends_on: {{ ref('stg_kiwify__order_events') }}
-- depends_on: {{ ref('stg_eduzz__invoice_events') }}
-- depends_on: {{ ref('stg_pix__payment_events') }}
-- depends_on: {{ ref('stg_pix__orders') }}
-- depends_on: {{ ref('int_pix__orders_latest') }}
{{ config(materialized='incremental', unique_key='transaction_key',
          incremental_strategy='delete+insert', on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['transaction_key']}],
          post_hook="{{ partial_index('platform, source_event_id', 'deliveries > 1') }}") }}

with

{% if is_incremental() %}
    {#- a constant, not a subquery: the planner then knows how few rows are new -#}
    {%- set since = -1 %}
    {%- if execute %}
        {%- set since = run_query("select coalesce(max(_load_seq), -1) from " ~ this)
            .columns[0].values()[0] %}
    {%- endif %}
    new_deliveries as (
        {%- for platform, model in [('hotmart', 'stg_hotmart__purchase_events'),
                                    ('kiwify', 'stg_kiwify__order_events'),
                                    ('eduzz', 'stg_eduzz__invoice_events'),
                                    ('pix', 'stg_pix__payment_events')] %}
            select
                platform,
                platform_transaction_id,
                source_event_id
            from {{ ref(model) }}
            where _load_seq > {{ since }}
            union all
        {%- endfor %}
        -- a store order snapshot changes the PIX events of its order
        select
            payments.platform,
            payments.platform_transaction_id,
            payments.source_event_id
        from {{ ref('stg_pix__payment_events') }} as payments
        inner join {{ ref('stg_pix__orders') }} as orders
            on payments.platform_transaction_id = orders.order_id
        where orders._load_seq > {{ since }}
    ),

    redelivered as (
        {{ purchase_events(event_ids='new_deliveries') }}
    ),

    touched as (
        select
            platform,
            platform_transaction_id
        from new_deliveries
        union
        select
            platform,
            platform_transaction_id
        from redelivered
    ),

    touched_events as (
        {{ purchase_events(transactions='touched') }}
    ),

    touched_event_ids as (
        select distinct
            platform,
            source_event_id
        from touched_events
    ),

    -- the other deliveries of their event ids, to choose between
    other_deliveries as (
        {{ purchase_events(event_ids='touched_event_ids') }}
    ),

    events as (
        select * from touched_events
        union
        select * from other_deliveries
    ),
{% else %}
    events as (
        select * from {{ ref('int_transaction_events_unioned') }}
    ),
{% endif %}

status_mapping as (
    select * from {{ ref('platform_status_mapping') }}
),

method_mapping as (
    select * from {{ ref('payment_method_mapping') }}
),

statuses as (
    select * from {{ ref('transaction_statuses') }}
),

deduplicated as (
    select
        *,
        row_number() over (
            partition by platform, source_event_id
            order by record_hash
        ) as delivery_number,
        -- how many times the event was delivered (the file reconciliation compares the
        -- versions of the ones delivered more than once)
        count(*) over (partition by platform, source_event_id) as deliveries
    from events
),

mapped as (
    select
        {{ transaction_key('deduplicated.platform', 'deduplicated.platform_transaction_id') }}
            as transaction_key,
        deduplicated.*,
        coalesce(status_mapping.status_code, 'unknown') as status,
        status_mapping.status_code is null as is_unmapped_status,
        status_mapping.refund_kind,
        coalesce(method_mapping.payment_method, 'unknown') as payment_method,
        method_mapping.payment_method is null as is_unmapped_payment_method,
        coalesce(statuses.lifecycle_rank, 0) as lifecycle_rank
    from deduplicated
    left join status_mapping
        on
            deduplicated.platform = status_mapping.platform
            and deduplicated.raw_status = status_mapping.raw_status
    left join method_mapping
        on
            deduplicated.platform = method_mapping.platform
            and deduplicated.raw_payment_method = method_mapping.raw_method
    left join statuses
        on coalesce(status_mapping.status_code, 'unknown') = statuses.status_code
    where deduplicated.delivery_number = 1
)

-- on an incremental build, only the touched transactions' rows are replaced
{{ rows_of_touched('mapped', ['platform', 'platform_transaction_id']) }}
