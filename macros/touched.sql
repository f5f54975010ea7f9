{#- Incremental builds by touched entity.

    A daily build recomputes only what the new records touched: the transactions with an
    event loaded since the model's last build (and, for the customer tables, every
    transaction of those transactions' customers). A model names the touched set once, as
    a CTE `touched`, and reads each relation through rows_of_touched, which shows at the
    call site what it reads:

        {% if is_incremental() %}
            touched as (
                {{ touched_transactions(ref('int_transaction_events_mapped')) }}
            ),
        {% endif %}

        events as (
            {{ rows_of_touched(ref('int_transaction_events_mapped'), 'transaction_key') }}
        ),

    A full refresh (the weekly full pass, a first build, a changed project) reads every
    row. -#}


{#- ------------------------------------------------------------- reading them -#}

{#- The rows of `relation` (a ref or a CTE's name) whose `key` (a column, or a list of
    columns) is in the CTE `touched`, on an incremental build; every row otherwise. -#}
{% macro rows_of_touched(relation, key, touched='touched') -%}
    {%- set keys = [key] if key is string else key -%}
    {%- if is_incremental() -%}
        {%- set alias = relation if relation is string else relation.identifier -%}
    select {{ alias }}.*
    from {{ relation }} {%- if relation is not string %} as {{ alias }}{% endif %}
    inner join {{ touched }}
        on
            {%- for column in keys %}
            {{ 'and ' if not loop.first }}{{ alias }}.{{ column }} = {{ touched }}.{{ column }}
            {%- endfor %}
    {%- else -%}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- The transactions of `relation` (int_transactions) whose customer had a transaction
    computed again since the model's last build, on an incremental build — all of that
    customer's transactions, so that a customer's row is computed whole —; every
    transaction otherwise. The same e-mail (trimmed, lower case) is the same customer. -#}
{% macro rows_of_touched_customers(relation) -%}
    {%- if is_incremental() -%}
    select all_transactions.*
    from {{ relation }} as all_transactions
    inner join (
        -- the customers of the transactions computed again since the last build
        select distinct {{ customer_identity('customer_email') }} as email
        from {{ relation }}
        where last_load_seq > {{ watermark() }}
    ) as touched
        on {{ customer_identity('all_transactions.customer_email') }} = touched.email
    {%- else -%}
    select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Who a customer is: the e-mail, trimmed and in lower case (null when empty). -#}
{% macro customer_identity(email) -%}
    nullif(lower(trim({{ email }})), '')
{%- endmacro %}


{#- ------------------------------------------------------------- naming them -#}

{#- Transactions with an event loaded since the model's last build, for incremental
    models keyed on transaction_key. A table built before it recorded last_load_seq is
    recomputed whole. -#}
{% macro touched_transactions(events) -%}
    {%- set built = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set since = -1 -%}
    {%- if execute and 'last_load_seq' in built -%}
        {#- a constant: the planner reads the new events by their index -#}
        {%- set since = run_query("select coalesce(max(last_load_seq), -1) from " ~ this)
            .columns[0].values()[0] -%}
    {%- endif %}
    select distinct transaction_key
    from {{ events }}
    where _load_seq > {{ since }}
{%- endmacro %}

{#- Marts whose rows each belong to one transaction (commission lines, the money and
    status breaks) are incremental the same way: the transactions int_transactions
    recomputed since the mart's last build are forgotten by a pre-hook and computed again
    by the model's body; everything else stays. Use:

      config(materialized='incremental', incremental_strategy='append',
             pre_hook="{{ forget_touched_transactions() }}",
             post_hook="{{ record_watermark(ref('int_transactions')) }}")

    and in the body, on an incremental build, read only `touched_transactions_since_build()`.
    with_delivered also touches the transactions of purchase events delivered since then,
    for a rule about events that never reached int_transactions. `columns`: what names
    them (transaction_key; or platform, platform_transaction_id for a mart whose rows may
    have no transaction_key yet, fct_payouts). -#}
{% macro touched_transactions_since_build(with_delivered=false, columns=['transaction_key']) -%}
    {%- set since = watermark() | trim -%}
    select {{ columns | join(', ') }}
    from {{ ref('int_transactions') }}
    where last_load_seq > {{ since }}
    {%- if with_delivered %}
        union
        select
            {%- for column in columns %}
            {{ transaction_key('platform', 'platform_transaction_id')
               if column == 'transaction_key' else column }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ ref('int_transaction_events_unioned') }}
        where _load_seq > {{ since }}
    {%- endif %}
{%- endmacro %}

{% macro forget_touched_transactions(with_delivered=false) -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where transaction_key in ({{ touched_transactions_since_build(with_delivered) }})
    {%- endif %}
{%- endmacro %}

{#- Payout lines (fct_payouts) whose transaction was recomputed since the last build: the
    line is read again, and joins the transaction that an extract now holds. -#}
{% macro forget_payout_lines_of_touched_transactions() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where (platform, platform_transaction_id) in (
            {{ touched_transactions_since_build(
                columns=['platform', 'platform_transaction_id']) }}
        )
    {%- endif %}
{%- endmacro %}

{#- Subscriptions, named by (platform, platform_subscription_id), whose rows may have
    changed since the model's last build (fct_subscription_events, dim_subscriptions): every
    subscription that a delivered event of a transaction computed again since names — the
    one the transaction belongs to now and one it may have left (a redelivery that decides
    otherwise) — and those with a subscription event (a Hotmart plan switch or
    cancellation, a Kiwify or Eduzz cancellation) loaded since. The events are read
    through int_transaction_events_unioned, every delivery, by the staging tables' indexes. -#}
{% macro touched_subscriptions_since_build() -%}
    {%- set since = watermark() | trim -%}
    select
        deliveries.platform,
        deliveries.platform_subscription_id
    from {{ ref('int_transaction_events_unioned') }} as deliveries
    where
        deliveries.platform_subscription_id is not null
        and (deliveries.platform, deliveries.platform_transaction_id) in (
            {{ touched_transactions_since_build(
                columns=['platform', 'platform_transaction_id']) }}
        )
    {%- for events in subscription_event_relations() %}
    union
    select
        platform,
        platform_subscription_id
    from {{ events }}
    where _load_seq > {{ since }} and platform_subscription_id is not null
    {%- endfor %}
{%- endmacro %}

{#- In a model that names its touched subscriptions as the CTE `touched`: a condition on
    a relation with platform and platform_subscription_id that keeps the rows of the
    touched subscriptions on an incremental build, every row otherwise. -#}
{% macro of_touched_subscriptions() -%}
    {%- if is_incremental() -%}
        (platform, platform_subscription_id) in (
            select platform, platform_subscription_id from touched
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The staging relations of the events that change a subscription without a charge. -#}
{% macro subscription_event_relations() -%}
    {{- return([ref('stg_hotmart__subscription_events'), ref('stg_kiwify__order_events'),
                ref('stg_eduzz__contract_events')]) -}}
{%- endmacro %}

{#- Forget the rows of the touched subscriptions (a pre-hook: they are computed again). -#}
{% macro forget_touched_subscriptions() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where (platform, platform_subscription_id) in (
            {{ touched_subscriptions_since_build() }}
        )
    {%- endif %}
{%- endmacro %}

{#- Business days (order_date) whose daily rows may have changed since the model's last
    build (agg_daily_sales): every order day that a delivered event of a transaction
    computed again since names — the day the transaction is dated now and one it may have
    left (a later event with another order date). Null when an event has no order date. -#}
{% macro touched_days_since_build() -%}
    {%- set since = watermark() | trim -%}
    select distinct {{ business_date('deliveries.ordered_at') }} as order_date
    from {{ ref('int_transaction_events_unioned') }} as deliveries
    where (deliveries.platform, deliveries.platform_transaction_id) in (
        select
            platform,
            platform_transaction_id
        from {{ ref('int_transactions') }}
        where last_load_seq > {{ since }}
    )
{%- endmacro %}

{#- A condition on order_date that keeps the rows of the days in `touched` (a CTE, or a
    subquery with its alias) on an incremental build — the undated rows when an undated
    event was touched —, every row otherwise. -#}
{% macro of_touched_days(touched='touched') -%}
    {%- if is_incremental() -%}
        (
            order_date in (select order_date from {{ touched }})
            or (
                order_date is null
                and exists (select 1 from {{ touched }} where order_date is null)
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Forget the rows of the touched days (a pre-hook: they are computed again). -#}
{% macro forget_touched_days() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where {{ of_touched_days('(' ~ touched_days_since_build() ~ ') as touched') }}
    {%- endif %}
{%- endmacro %}

{#- The feeds (raw tables) with records loaded since the model's last build (its
    watermark), for a model whose rows each come from one feed's records and are computed
    again per feed (rpt_data_issues): a list of feed names, read when the model runs (none
    asked on a full build). -#}
{% macro feeds_loaded_since_build() -%}
    {%- set loaded = [] -%}
    {%- if execute and is_incremental() -%}
        {%- set since = watermark() | trim -%}
        {%- set probes = [] -%}
        {%- for source_name, feed in landed_feeds() -%}
            {%- do probes.append(
                "select '" ~ feed ~ "' as feed where exists (select 1 from "
                ~ raw_feed(source_name, feed) ~ " as records where _load_seq > " ~ since ~ ")"
            ) -%}
        {%- endfor -%}
        {%- for row in run_query(probes | join(' union all ')) -%}
            {%- do loaded.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(loaded) }}
{%- endmacro %}

{#- Forget the rows of the given feeds (a pre-hook: they are computed again). -#}
{% macro forget_rows_of_feeds(feeds) -%}
    {%- if is_incremental() and feeds %}
        delete from {{ this }}
        where feed in ('{{ feeds | join("', '") }}')
    {%- endif %}
{%- endmacro %}
