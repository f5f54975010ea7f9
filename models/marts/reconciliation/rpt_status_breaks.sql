-- Invariant 3, statuses (and the transactions' part of invariant 1): raw statuses and
-- payment methods that no seed maps, status changes the state diagram does not allow,
-- a last change that is not the current status, and delivered transactions missing from
-- fct_transactions. One row per break, empty when the books agree.

-- Every rule is about one transaction: incremental per touched transaction, and per
-- transaction delivered since the last build for the ones that never reached the marts
-- (see forget_touched_transactions); whole on a full refresh.
-- depends_on: {{ ref('int_transactions') }}
{{ config(materialized='incremental', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['transaction_key']}],
          pre_hook="{{ forget_touched_transactions(with_delivered=true) }}",
          post_hook="{{ record_watermark(ref('int_transactions')) }}") }}

with

-- on an incremental build the events view is read once: for the rule about lost
-- transactions and for the set of touched transactions (the pre-hook's with_delivered
-- set, in one scan)
delivered as (
    select distinct
        platform,
        platform_transaction_id
    from {{ ref('int_transaction_events_unioned') }}
    {%- if is_incremental() %}
    where _load_seq > {{ watermark() }}
    {%- endif %}
),

{% if is_incremental() %}
    touched as (
        {{ touched_transactions_since_build() }}
        union
        select {{ transaction_key('platform', 'platform_transaction_id') }}
        from delivered
    ),
{% endif %}

events as (
    {{ rows_of_touched(ref('int_transaction_events_mapped'), 'transaction_key') }}
),

history as (
    {{ rows_of_touched(ref('fct_transaction_status_history'), 'transaction_key') }}
),

transactions as (
    {{ rows_of_touched(ref('fct_transactions'), 'transaction_key') }}
),

unmapped as (
    select
        events.transaction_key,
        case
            when unmapped.kind = 'status' then 'status_mapping'
            else 'payment_method_mapping'
        end as check_name,
        'unmapped_' || unmapped.kind as break_kind,
        'transaction' as entity_type,
        events.platform_transaction_id as entity_id,
        events.platform,
        events.currency_code as unit,
        cast(null as {{ type_money_total() }}) as expected,
        cast(null as {{ type_money_total() }}) as actual,
        cast(events.offer_price as {{ type_money_total() }}) as amount_at_stake,
        {{ format_text(
            "'%s %s is not in seeds/%s (%s line %s)'",
            'unmapped.label', quoted_text('unmapped.raw_value'), 'unmapped.seed',
            'events.source_file', 'events.source_line'
        ) }} as detail
    from events
    {{ join_values('unmapped', ['kind', 'is_unmapped', 'raw_value', 'label', 'seed'], [
        ["'status'", 'events.is_unmapped_status', 'events.raw_status', "'raw status'",
         "'platform_status_mapping.csv'"],
        ["'payment_method'", 'events.is_unmapped_payment_method',
         'events.raw_payment_method', "'payment method'", "'payment_method_mapping.csv'"],
    ]) }}
    where unmapped.is_unmapped
),

invalid_transitions as (
    select
        history.transaction_key,
        'status_history' as check_name,
        'invalid_transition' as break_kind,
        'transaction' as entity_type,
        history.platform_transaction_id as entity_id,
        history.platform,
        transactions.currency_code as unit,
        cast(null as {{ type_money_total() }}) as expected,
        cast(null as {{ type_money_total() }}) as actual,
        cast(transactions.offer_price as {{ type_money_total() }}) as amount_at_stake,
        {{ format_text(
            "'%s -> %s at %s is not an allowed transition'",
            "coalesce(history.previous_status, 'start')", 'history.status', 'history.changed_at'
        ) }} as detail
    from history
    inner join transactions on history.transaction_key = transactions.transaction_key
    where
        not history.is_valid_transition
        and history.status <> 'unknown'
        and coalesce(history.previous_status, 'start') <> 'unknown'
),

last_change_not_current as (
    select
        history.transaction_key,
        'status_history' as check_name,
        'last_change_is_not_current' as break_kind,
        'transaction' as entity_type,
        history.platform_transaction_id as entity_id,
        history.platform,
        transactions.currency_code as unit,
        cast(null as {{ type_money_total() }}) as expected,
        cast(null as {{ type_money_total() }}) as actual,
        cast(transactions.offer_price as {{ type_money_total() }}) as amount_at_stake,
        {{ format_text(
            "'last change %s, current status %s'", 'history.status', 'transactions.status'
        ) }} as detail
    from history
    inner join transactions on history.transaction_key = transactions.transaction_key
    where history.is_current and history.status <> transactions.status
),

lost as (
    select
        {{ transaction_key('delivered.platform', 'delivered.platform_transaction_id') }}
            as transaction_key,
        'raw_reaches_marts' as check_name,
        'transaction_lost' as break_kind,
        'transaction' as entity_type,
        delivered.platform_transaction_id as entity_id,
        delivered.platform,
        'transactions' as unit,
        cast(1 as {{ type_money_total() }}) as expected,
        cast(0 as {{ type_money_total() }}) as actual,
        cast(null as {{ type_money_total() }}) as amount_at_stake,
        'delivered in the extracts, missing from fct_transactions' as detail
    from delivered
    left join transactions
        on
            delivered.platform = transactions.platform
            and delivered.platform_transaction_id = transactions.platform_transaction_id
    where transactions.platform_transaction_id is null
)

select * from unmapped
union all
select * from invalid_transitions
union all
select * from last_change_not_current
union all
select * from lost
