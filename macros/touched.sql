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

{#- The rows of `relation` (a ref or a CTE's name) whose `key` column is in the CTE
    `touched`, on an incremental build; every row otherwise. The keys are read as an array
    (in_rows_of): an index condition even under a view, where a join with the touched set
    (estimated at a few rows) hashed the whole table. -#}
{% macro rows_of_touched(relation, key, touched='touched') -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ in_rows_of(key, touched, key) }}
    {%- endif -%}
{%- endmacro %}

{#- The transactions of `relation` (int_transactions) whose customer had a transaction
    computed again since the model's last build, on an incremental build — all of that
    customer's transactions, so that a customer's row is computed whole —; every
    transaction otherwise. The same e-mail (trimmed, lower case) is the same customer.
    `columns`: the ones the model reads (a hundred thousand whole rows of int_transactions
    held in memory spill to disk). -#}
{% macro rows_of_touched_customers(relation, columns=['*']) -%}
    {%- if is_incremental() -%}
    {#- the customers of the transactions computed again since the last build, as an array:
        an index condition on int_transactions' customer identity (a join was planned as a
        hash of all of int_transactions) -#}
    {%- set touched -%}
        (select distinct {{ customer_identity('customer_email') }} as email
         from {{ relation }}
         where last_load_seq > {{ watermark() }})
    {%- endset %}
    select {{ columns | join(', ') }} from {{ relation }}
    where {{ in_rows_of(customer_identity('customer_email'), touched, 'email') }}
    {%- else -%}
    select {{ columns | join(', ') }} from {{ relation }}
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
    cancellation, a Kiwify or Eduzz cancellation) loaded since. The events are every
    delivery, read stream by stream by index (deliveries_of_touched_transactions). -#}
{% macro touched_subscriptions_since_build() -%}
    {%- set since = watermark() | trim -%}
    select
        deliveries.platform,
        deliveries.platform_subscription_id
    from ({{ deliveries_of_touched_transactions() }}) as deliveries
    where deliveries.platform_subscription_id is not null
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

{#- Every delivered event (int_transaction_events_unioned's rows) of the transactions
    computed again since the model's last build, read stream by stream by each one's
    transaction index (purchase_events with a `transactions` filter): a filter on the
    unified view is not pushed into its streams that are joins (the store's payments with
    their orders, the sales API with its commissions), which would be read whole. -#}
{% macro deliveries_of_touched_transactions() -%}
    {{ purchase_events(transactions='(' ~ touched_transactions_since_build(
        columns=['platform', 'platform_transaction_id']) ~ ')') }}
{%- endmacro %}

{#- Business days (order_date) whose daily rows may have changed since the model's last
    build (agg_daily_sales, and the months of the monthly aggregates): every order day
    that a delivered event of a transaction computed again since names — the day the
    transaction is dated now and one it may have left (a later event with another order
    date); none (null) when an event has no order date. A list read when the model runs —
    constants, so that the planner reads the days' rows by fct_transactions' order_date
    index —; empty on a full build. -#}
{% macro touched_days_since_build() -%}
    {%- set days = [] -%}
    {%- if execute and is_incremental() -%}
        {%- set sql -%}
            select distinct {{ business_date('deliveries.ordered_at') }}
            from ({{ deliveries_of_touched_transactions() }}) as deliveries
        {%- endset -%}
        {%- for row in run_query(sql) -%}
            {%- do days.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(days) }}
{%- endmacro %}

{#- A condition on `column` (a date) that keeps the rows of `days` (a list of dates; none
    for undated rows) on an incremental build, every row otherwise. -#}
{% macro of_days(days, column) -%}
    {%- if not is_incremental() -%}
        true
    {%- elif not days -%}
        false
    {%- else -%}
        {%- set dated = days | reject('none') | list -%}
        (
        {%- if dated %}
            {{ column }} in (
                {%- for day in dated %}
                cast('{{ day }}' as {{ type_date() }}){{ ',' if not loop.last }}
                {%- endfor %}
            )
        {%- endif %}
        {%- if none in days %}
            {{ 'or ' if dated }}{{ column }} is null
        {%- endif %}
        )
    {%- endif -%}
{%- endmacro %}

{#- Forget the rows of the touched days (a pre-hook: they are computed again). -#}
{% macro forget_touched_days() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where {{ of_days(touched_days_since_build(), 'order_date') }}
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

{#- Payout breaks (rpt_payout_breaks), named by (platform, platform_transaction_id) with
    their transaction_key: the transactions computed again since the model's last build
    and those with a payout line loaded since. (Lines of no transaction id are computed
    again on every build: rows_of_touched_payout_transactions.) -#}
{% macro touched_payout_transactions_since_build() -%}
    select
        touched.platform,
        touched.platform_transaction_id,
        {{ transaction_key('touched.platform', 'touched.platform_transaction_id') }}
            as transaction_key
    from (
        {{ touched_transactions_since_build(columns=['platform', 'platform_transaction_id']) }}
        union
        select
            platform,
            platform_transaction_id
        from {{ ref('stg_payouts__lines') }}
        where _load_seq > {{ watermark() | trim }} and platform_transaction_id is not null
    ) as touched
{%- endmacro %}

{#- Whether rpt_payout_breaks is computed whole on this build: a first or full build, or
    a build after a payout line that moves the last payout date (the date "approved, never
    paid" counts two weekly payouts to) — that date changes the rule for every
    transaction. Read when the model runs; the same answer for its pre-hook and body. -#}
{% macro payout_breaks_built_whole() -%}
    {%- if not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set since = watermark() | trim -%}
    {%- set lines = ref('stg_payouts__lines') -%}
    {#- no line loaded since (a webhook's run): nothing moved; read by the load index -#}
    {%- if not run_query("select exists (select 1 from " ~ lines ~ " where _load_seq > "
                         ~ since ~ ")").columns[0].values()[0] -%}
        {{ return(false) }}
    {%- endif -%}
    {#- the lines in fct_payouts: never superseded later, so the last payout date when the
        model was last built is that of the lines loaded by then -#}
    {%- set moved = run_query(
        "select coalesce(max(payout_date), date '0001-01-01')"
        ~ " <> coalesce(max(case when _load_seq <= " ~ since ~ " then payout_date end),"
        ~ " date '0001-01-01')"
        ~ " from " ~ lines
        ~ " where not is_superseded and payout_id is not null and platform is not null"
    ).columns[0].values()[0] -%}
    {{ return(moved) }}
{%- endmacro %}

{#- In rpt_payout_breaks, which names its touched transactions as the CTE `touched`: the
    rows of `relation` (platform, platform_transaction_id) of the touched transactions and
    those of no transaction id, or every row when the model is computed whole. Two
    branches, each read by the platform_transaction_id index (an IN … OR … is a scan). -#}
{% macro rows_of_touched_payout_transactions(relation, whole) -%}
    {%- if whole -%}
    select * from {{ relation }}
    {%- else -%}
    select * from {{ relation }}
    where (platform, platform_transaction_id) in (
        select touched.platform, touched.platform_transaction_id from touched
    )
    union all
    select * from {{ relation }}
    where platform_transaction_id is null
    {%- endif -%}
{%- endmacro %}

{#- Forget the payout breaks computed again (a pre-hook): all of them when the model is
    computed whole, those of the touched transactions and of no transaction id otherwise. -#}
{% macro forget_payout_breaks() -%}
    {%- if is_incremental() %}
        {%- if payout_breaks_built_whole() %}
        delete from {{ this }}
        {%- else %}
        delete from {{ this }}
        where
            (platform, platform_transaction_id) in (
                select platform, platform_transaction_id
                from ({{ touched_payout_transactions_since_build() }}) as touched
            )
            or platform_transaction_id is null
        {%- endif %}
    {%- endif %}
{%- endmacro %}

{#- Products (product_key) whose row in dim_products may have changed since the model's
    last build: the product each transaction computed again since is of now, and the one it
    was of at that build — as fct_transactions still gives it: fct_transactions is built
    after dim_products (its depends_on), and read here by name, not by ref (which would
    make it a parent). (The delivered events cannot tell the product left: a store
    payment's events are read with its order, so they name '(order not delivered yet)'
    only until the order lands.) -#}
{% macro touched_products_since_build() -%}
    {%- set transactions = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='fct_transactions') -%}
    {{ touched_transactions_since_build(
        columns=[product_key('product_name') ~ ' as product_key']) }}
    {%- if transactions is not none %}
    union
    select product_key
    from {{ transactions }}
    where transaction_key in ({{ touched_transactions_since_build() }})
    {%- endif %}
{%- endmacro %}

{#- Forget the rows of the touched products (a pre-hook: they are computed again). -#}
{% macro forget_touched_products() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where product_key in ({{ touched_products_since_build() }})
    {%- endif %}
{%- endmacro %}

{#- Refunds (fct_refunds), named by transaction_key, that may have changed since the
    model's last build: the transactions computed again since, and those a gift-card
    voucher credit loaded since names (its order id is the transaction's id, on whichever
    platform: the key is made for each). -#}
{% macro touched_refunds_since_build() -%}
    {{ touched_transactions_since_build() }}
    union
    {{ transactions_of_vouchers_since_build() }}
{%- endmacro %}

{#- The transaction keys a gift-card voucher credit loaded since the model's last build
    names: its order id on each platform. -#}
{% macro transactions_of_vouchers_since_build() -%}
    {%- set since = watermark() | trim -%}
    {%- for platform in registry_platforms() %}
    {{ 'union' if not loop.first }}
    select {{ transaction_key("'" ~ platform ~ "'", 'order_id') }} as transaction_key
    from {{ ref('stg_giftcards__transactions') }}
    where _load_seq > {{ since }} and operation = 'Credit' and order_id is not null
    {%- endfor %}
{%- endmacro %}

{#- Forget the refunds of the touched transactions (a pre-hook: computed again). -#}
{% macro forget_touched_refunds() -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where transaction_key in ({{ touched_refunds_since_build() }})
    {%- endif %}
{%- endmacro %}

{#- The months (their first day; none for undated rows) whose monthly rows may have
    changed since the model's last build: the months of the touched days
    (touched_days_since_build) and, with `with_vouchers`, the order months of the
    transactions a voucher credit loaded since names (a refund's method). A list read when
    the model runs — constants, so that the planner reads the months' rows by
    fct_transactions' order_date index —; empty on a full build. -#}
{% macro touched_months_since_build(with_vouchers=false) -%}
    {%- set months = [] -%}
    {%- if execute and is_incremental() -%}
        {%- for day in touched_days_since_build() -%}
            {%- set month = day.replace(day=1) if day is not none else none -%}
            {%- if month not in months -%}
                {%- do months.append(month) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if with_vouchers -%}
            {%- set sql -%}
                select distinct
                    cast({{ dbt.date_trunc('month', 'order_date') }} as {{ type_date() }})
                from {{ ref('fct_transactions') }}
                where transaction_key in ({{ transactions_of_vouchers_since_build() }})
            {%- endset -%}
            {%- for row in run_query(sql) if row[0] not in months -%}
                {%- do months.append(row[0]) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(months) }}
{%- endmacro %}

{#- A condition that keeps the rows of `months` (touched_months_since_build) on an
    incremental build, every row otherwise. `column`: a month's first day (order_month), or
    with `by_day` a date read by its index (order_date). -#}
{% macro of_months(months, column, by_day=false) -%}
    {%- if not is_incremental() -%}
        true
    {%- elif not months -%}
        false
    {%- else -%}
        (
        {%- for month in months %}
            {{ 'or ' if not loop.first }}
            {%- if month is none -%}
            {{ column }} is null
            {%- elif by_day -%}
            {%- set next_month = (month.replace(day=28) + modules.datetime.timedelta(days=4))
                .replace(day=1) -%}
            ({{ column }} >= cast('{{ month }}' as {{ type_date() }})
             and {{ column }} < cast('{{ next_month }}' as {{ type_date() }}))
            {%- else -%}
            {{ column }} = cast('{{ month }}' as {{ type_date() }})
            {%- endif %}
        {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{#- Forget the rows of the touched months (a pre-hook: they are computed again). -#}
{% macro forget_touched_months(with_vouchers=false) -%}
    {%- if is_incremental() %}
        delete from {{ this }}
        where {{ of_months(touched_months_since_build(with_vouchers), 'order_month') }}
    {%- endif %}
{%- endmacro %}
