{#
    Where an incremental mart left off, kept beside the data rather than in it: a load
    number in a mart would make a run split in several runs differ from one run.

    watermark(): the highest load number (raw._load_seq) the model had read when it was
    last built; -1 before the first build. record_watermark(relation) (a post-hook) stores
    the highest last_load_seq of the relation the model was built from.
#}

{% macro create_watermark_table() %}
    create schema if not exists intermediate;
    create table if not exists intermediate._build_watermarks (
        model text primary key,
        last_load_seq bigint not null
    );
{% endmacro %}

{% macro watermark() -%}
    {#- a constant, read when the model runs: the planner then knows how few rows are new -#}
    {%- set found = -1 -%}
    {%- if execute and run_query(
            "select to_regclass('intermediate._build_watermarks') is not null")
            .columns[0].values()[0] -%}
        {%- set found = run_query(
            "select coalesce((select last_load_seq from intermediate._build_watermarks"
            " where model = '" ~ this.identifier ~ "'), -1)").columns[0].values()[0] -%}
    {%- endif -%}
    {{ found }}
{%- endmacro %}

{% macro record_watermark(relation) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', coalesce(max(last_load_seq), -1) from {{ relation }}
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}

{#- The highest load number of raw relations a model has read (a post-hook), for a model
    whose own rows do not tell how far it read. -#}
{% macro record_raw_watermark(relations) %}
    insert into intermediate._build_watermarks (model, last_load_seq)
    select '{{ this.identifier }}', greatest(
        -1
        {%- for relation in relations %},
        (select max(_load_seq) from {{ relation }})
        {%- endfor %}
    )
    on conflict (model) do update set last_load_seq = excluded.last_load_seq
{% endmacro %}

{#- The load number the last build read through, for tests scoped to what changed: on an
    incremental build they look at the rows loaded after it; on a full refresh (the weekly
    full pass, a first build, a changed project) at every row (-1). A constant, so that
    the planner reads the new rows by index. -#}
{% macro checked_through() -%}
    {%- set through = -1 -%}
    {%- if execute and not flags.FULL_REFRESH -%}
        {%- set built = run_query("select to_regclass('raw._build_state') is not null")
            .columns[0].values()[0] -%}
        {%- if built -%}
            {%- set through = run_query(
                "select coalesce((select (to_jsonb(state) ->> 'last_load_seq')::bigint"
                " from raw._build_state as state), -1)").columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ through }}
{%- endmacro %}

{#- ------------------------------------------------ marts kept per touched transaction

    A mart whose rows each belong to one transaction (commission lines, the money and
    status breaks) is incremental the same way: the transactions int_transactions
    recomputed since the mart's last build are forgotten by a pre-hook and computed again
    by the model's body; everything else stays. Use:

      config(materialized='incremental', incremental_strategy='append',
             pre_hook="{{ forget_touched_transactions() }}",
             post_hook="{{ record_watermark(ref('int_transactions')) }}")

    and in the body, on an incremental build, read only `touched_transactions_since_build()`.
    with_delivered also touches the transactions of purchase events delivered since then,
    for a rule about events that never reached int_transactions.
-#}

{% macro touched_transactions_since_build(with_delivered=false) -%}
    {%- set since = watermark() | trim -%}
    select transaction_key
    from {{ ref('int_transactions') }}
    where last_load_seq > {{ since }}
    {%- if with_delivered %}
        union
        select {{ transaction_key('platform', 'platform_transaction_id') }}
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

{#- A partial index on the few rows a rule looks for (created once per table; dbt's
    `indexes` config has no WHERE). index_unread_rows (a post-hook on the staging folder)
    indexes the rows a staging model could not read whole, so that the data-issue and
    superseded-record lists read a few rows by index instead of every staging row. -#}
{% macro partial_index(columns, predicate) -%}
    do $index$ begin
        if not exists (
            select from pg_indexes
            where schemaname = '{{ this.schema }}'
              and tablename = '{{ this.identifier }}'
              and indexdef like '%WHERE%{{ predicate.split()[0] }}%'
        ) then
            create index on {{ this }} ({{ columns }}) where {{ predicate }};
        end if;
    end $index$
{%- endmacro %}

{% macro index_unread_rows() -%}
    {%- if execute and config.get('materialized') in ('table', 'incremental') -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name')
            | list -%}
        {%- for column, predicate in [('data_issues', "data_issues <> '[]'::jsonb"),
                                      ('is_superseded', 'is_superseded')]
            if column in columns %}
            {{ partial_index('record_hash', predicate) }};
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{#- Every landed feed: (landing folder = dbt source, raw table). -#}
{% macro landed_feeds() -%}
    {{ return([
        ('hotmart', 'hotmart_webhooks'), ('kiwify', 'kiwify_webhooks'),
        ('eduzz', 'eduzz_webhooks'), ('pix', 'pix_payments'), ('pix', 'pix_orders'),
        ('loyalty', 'loyalty_entries'), ('redemptions', 'redemption_orders'),
        ('redemptions', 'redemption_items'), ('giftcards', 'giftcard_cards'),
        ('giftcards', 'giftcard_transactions'), ('payouts', 'payout_lines'),
    ]) }}
{%- endmacro %}

{% macro landed_feed_relations() -%}
    {%- set relations = [] -%}
    {%- for source_name, feed in landed_feeds() -%}
        {%- do relations.append(source(source_name, feed)) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}
